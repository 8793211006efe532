"""Target codecs: encode keypoints to training targets, decode network output back to keypoints."""
