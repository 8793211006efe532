"""The whole-body hand stage (Hand4Whole's, CVPRW 2022): good hands for people found by a body
pose estimator.

A body network sees a hand as a few pixels of its last feature map; so the hands are cut out of the
full-resolution image instead and estimated by the dedicated hand network, right hands only (left
ones mirrored and their keypoints mirrored back). The parts:

- :mod:`handpose.wholebody.hand_boxes` — each person's hand boxes from the body keypoints (the
  forearm's direction and length), or from hand keypoints or boxes the input already has, with
  the side from the body's arm; optionally moved onto a hand detector's box that overlaps;
- :mod:`handpose.wholebody.orientation` — each hand's orientation: its 3D rotation in the camera
  frame where 3D keypoints exist, else its in-plane angle and whether the palm or the back faces
  the camera;
- :mod:`handpose.wholebody.run` — ``handpose wholebody``: a COCO-style people file and its images
  in, the same file with ``lefthand_kpts`` / ``righthand_kpts`` (COCO-WholeBody's fields), boxes,
  validity flags and orientations out, one batched Predictor call per image.

:mod:`handpose.evaluation.wholebody` scores the stage on the COCO-WholeBody format sample.
"""
