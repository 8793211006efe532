"""Photo backgrounds for the generator: deterministic, distinct from the painted ones, optional
(the default output is the procedural one), user folders, clear errors, cache keys."""

import json

import cv2
import numpy as np
import pytest

from handpose.cli.main import main
from handpose.synth import generate_dataset, photo_backgrounds, render_scene
from handpose.synth.backgrounds import Backgrounds
from handpose.synth.photo_backgrounds import find_photos, photo_pool
from handpose.synth.surface import PERSON

SIZE = 64


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _same_scene(a, b):
    return all(np.array_equal(x, y) for x, y in [(a.image, b.image), (a.mask, b.mask), (a.depth, b.depth)])


@pytest.fixture
def only_folder_photos(monkeypatch):
    """A photo pool holding nothing but the folders a test names (no built-in photos)."""
    monkeypatch.setattr(photo_backgrounds, "_scikit_image_photos", lambda: [])
    monkeypatch.setattr(photo_backgrounds, "SYSTEM_PHOTO_DIRS", ())
    photo_pool.cache_clear()
    yield
    photo_pool.cache_clear()


@pytest.fixture
def green_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "green.png"), np.full((50, 80, 3), (0, 255, 0), np.uint8))  # BGR
    return folder


def test_the_default_is_the_procedural_path():
    for index in range(3):
        assert _same_scene(render_scene(4, index, SIZE), render_scene(4, index, SIZE, Backgrounds("procedural")))


def test_the_default_dataset_is_the_procedural_one(tmp_path):
    generate_dataset(tmp_path / "default", 2, size=SIZE, seed=9, progress=False)
    generate_dataset(tmp_path / "explicit", 2, size=SIZE, seed=9, progress=False, backgrounds="procedural")
    assert _tree(tmp_path / "default") == _tree(tmp_path / "explicit")


def test_photo_backgrounds_are_deterministic_per_seed():
    photos = Backgrounds("photos")
    for index in range(3):
        assert _same_scene(render_scene(6, index, SIZE, photos), render_scene(6, index, SIZE, photos))
    assert not _same_scene(render_scene(6, 0, SIZE, photos), render_scene(7, 0, SIZE, photos))


def test_photo_backgrounds_differ_from_procedural_ones_behind_the_same_hands():
    for index in range(3):
        painted = render_scene(2, index, SIZE)
        photo = render_scene(2, index, SIZE, Backgrounds("photos"))
        assert not np.array_equal(painted.image, photo.image)
        for a, b in zip(painted.hands, photo.hands):  # the background is drawn after the hands
            np.testing.assert_array_equal(a.keypoints_2d, b.keypoints_2d)
        np.testing.assert_array_equal(painted.depth, photo.depth)
        assert np.all(photo.depth[photo.mask == PERSON] > 0)  # only the arm: people in photos are not labelled


def test_mixed_backgrounds_use_both_kinds():
    mixed = [render_scene(1, i, SIZE, Backgrounds("mixed")) for i in range(12)]
    painted = [_same_scene(m, render_scene(1, i, SIZE)) for i, m in enumerate(mixed)]
    assert any(painted) and not all(painted)


def test_photo_datasets_have_the_same_bytes_with_one_or_two_workers(tmp_path):
    for workers in (1, 2):
        generate_dataset(tmp_path / str(workers), 4, size=SIZE, seed=5, workers=workers, progress=False,
                         backgrounds="photos")
    assert _tree(tmp_path / "1") == _tree(tmp_path / "2")


def test_a_user_folder_joins_the_built_in_pool(green_folder):
    pool = photo_pool((green_folder,))
    assert len(pool) == len(photo_pool()) + 1 and pool.paths[-1] == green_folder / "green.png"
    assert np.array_equal(pool.image(len(pool) - 1)[0, 0], [0, 255, 0])  # RGB


def test_photos_from_a_user_folder_are_used(tmp_path, green_folder, only_folder_photos):
    generate_dataset(tmp_path / "out", 3, size=SIZE, seed=0, progress=False, backgrounds="photos",
                     background_dirs=[green_folder])
    for path in sorted((tmp_path / "out" / "images" / "train").glob("*.jpg")):
        corner = cv2.imread(str(path))[:4, :4].reshape(-1, 3).mean(axis=0)  # BGR, after camera effects
        assert corner[1] > 100 and corner[1] > 2 * max(corner[0], corner[2]), corner


def test_photo_crops_are_resized_mirrored_and_capped(tmp_path, only_folder_photos):
    folder = tmp_path / "big"
    folder.mkdir()
    ramp = np.tile(np.linspace(0, 255, 3000).astype(np.uint8)[None, :, None], (1200, 1, 3))
    cv2.imwrite(str(folder / "ramp.png"), ramp)
    pool = photo_pool((folder,))
    assert max(pool.image(0).shape[:2]) == photo_backgrounds.MAX_SIDE
    crops = [pool.sample(np.random.default_rng(seed), 48) for seed in range(16)]
    assert all(c.shape == (48, 48, 3) and c.dtype == np.uint8 for c in crops)
    rising = [int(c[24, -4].mean()) > int(c[24, 3].mean()) for c in crops]
    assert any(rising) and not all(rising)  # mirrored about half the time


def test_missing_or_empty_folders_are_clear_errors(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=f"background folder {missing} does not exist"):
        generate_dataset(tmp_path / "out", 2, size=SIZE, progress=False, backgrounds="photos", background_dirs=[missing])
    assert not (tmp_path / "out").exists()  # failed before touching the output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no photo here")
    with pytest.raises(FileNotFoundError, match=f"background folder {empty} holds no photographs"):
        generate_dataset(tmp_path / "out", 2, size=SIZE, progress=False, backgrounds="mixed", background_dirs=[empty])


def test_bad_options_are_clear_errors(tmp_path, green_folder):
    with pytest.raises(ValueError, match="backgrounds must be one of procedural, photos, mixed, got 'photo'"):
        generate_dataset(tmp_path, 1, size=SIZE, progress=False, backgrounds="photo")
    with pytest.raises(ValueError, match="background_dirs are used only with backgrounds 'photos' or 'mixed'"):
        generate_dataset(tmp_path, 1, size=SIZE, progress=False, background_dirs=[green_folder])


def test_wallpaper_resolutions_and_thumbnails_count_once(tmp_path):
    def image(path, side):
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8))

    image(tmp_path / "mate" / "Elephants.jpg", 40)
    image(tmp_path / "mate" / "Elephants_3840x2160.jpg", 80)
    image(tmp_path / "Kay" / "contents" / "images" / "1080x1920.png", 30)
    image(tmp_path / "Kay" / "contents" / "images" / "5120x2880.png", 60)
    image(tmp_path / "Kay" / "contents" / "screenshot.png", 20)
    (tmp_path / "readme.svg").write_text("<svg/>")
    assert find_photos(tmp_path) == [
        tmp_path / "Kay" / "contents" / "images" / "5120x2880.png",
        tmp_path / "mate" / "Elephants_3840x2160.jpg",
    ]


def test_command_line_renders_photo_backgrounds(tmp_path, green_folder):
    out = tmp_path / "out"
    args = ["synth", "--out", str(out), "--count", "1", "--size", "32", "--backgrounds", "photos"]
    assert main([*args, "--background-dir", str(green_folder)]) == 0
    assert json.loads((out / "train.json").read_text())["images"]


@pytest.mark.parametrize(
    "extra, problem",
    [
        (["--backgrounds", "photos", "--background-dir", "MISSING"], "background folder MISSING does not exist"),
        (["--backgrounds", "mixed", "--background-dir", "EMPTY"], "background folder EMPTY holds no photographs"),
        (["--background-dir", "PHOTOS"], "--background-dir needs --backgrounds photos or mixed"),
    ],
)
def test_command_line_background_problems_exit_2(tmp_path, green_folder, capsys, extra, problem):
    (tmp_path / "empty").mkdir()
    names = {"MISSING": str(tmp_path / "missing"), "EMPTY": str(tmp_path / "empty"), "PHOTOS": str(green_folder)}
    extra = [names.get(item, item) for item in extra]
    for name, path in names.items():
        problem = problem.replace(name, path)
    assert main(["synth", "--out", str(tmp_path / "out"), "--count", "1", "--size", "32", *extra]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"handpose synth: {problem}"), lines


def test_cache_keys_keep_the_procedural_name_and_tell_photo_sets_apart(tmp_path, green_folder):
    from handpose.synth import GENERATOR_VERSION
    from handpose.train.config import SourceConfig
    from handpose.train.sources import synth_folder

    plain = synth_folder(SourceConfig(format="synth", count=10, seed=3, size=64), tmp_path)
    assert plain == tmp_path / f"synth-v{GENERATOR_VERSION}-n10-seed3-64px"
    photos = synth_folder(SourceConfig(format="synth", count=10, seed=3, size=64, backgrounds="photos"), tmp_path)
    mixed = synth_folder(SourceConfig(format="synth", count=10, seed=3, size=64, backgrounds="mixed"), tmp_path)
    with_folder = synth_folder(
        SourceConfig(format="synth", count=10, seed=3, size=64, backgrounds="photos", background_dirs=[str(green_folder)]),
        tmp_path,
    )
    assert len({plain, photos, mixed, with_folder}) == 4
    assert photos.name.startswith(plain.name + "-photos-") and mixed.name.startswith(plain.name + "-mixed-")


def test_source_configs_check_the_background_options(tmp_path):
    from handpose.train.config import ConfigError, SourceConfig

    with pytest.raises(ConfigError, match="backgrounds must be one of"):
        SourceConfig(format="synth", backgrounds="wallpaper")
    with pytest.raises(ConfigError, match="background_dirs are used only with"):
        SourceConfig(format="synth", background_dirs=[str(tmp_path)])
    with pytest.raises(ConfigError, match="backgrounds: only synth sources"):
        SourceConfig(format="coco", path=str(tmp_path), backgrounds="photos")
