"""From pixels to fitted faces: the pipeline users call (Section 3.3).

    image -> region of interest (dlm.product.roi) -> probabilistic landmarks (dlm.landmarks.predictor)
          -> model fit (dlm.fitting) -> mesh, parameters, pictures (dlm.product.outputs)

    result = dlm.reconstruct(dlm.read_image("me.jpg"))       # best face in a photo
    result.landmarks, result.sigma, result.params, result.vertices, result.camera

    tracker = dlm.Tracker((width, height))                    # frame by frame, real time
    for frame in frames: out = tracker(frame)
"""
from __future__ import annotations

import atexit
import dataclasses
import functools
import threading
import time
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from dlm.core import facemodel as fm
from dlm.fitting import energy as en
from dlm.fitting import offline
from dlm.fitting.realtime import RealtimeFitter
from dlm.io.images import InputError
from dlm.landmarks import label_translation as lt
from dlm.landmarks import predictor as lmk
from dlm.product import quality as quality_lib
from dlm.product import detector as detector_lib
from dlm.product import roi as roi_lib


class NoFaceError(InputError):
    """No face was found in an image."""


@dataclasses.dataclass
class FaceResult:
    """One fitted face.  Pixels are image pixels (x right, y down, pixel centres at +0.5)."""
    image_size: tuple            # (width, height)
    roi: roi_lib.Roi             # the crop the landmarks came from
    landmark_set: str
    landmarks: np.ndarray        # (L, 2) predicted mu
    sigma: np.ndarray            # (L,) predicted sigma, pixels
    params: fm.FaceParams        # identity (I,), expression (E,), joint_rotations (4, 3), translation (3,)
    camera: fm.Camera            # rotation (3,), translation (3,), focal (), principal_point (2,)
    fitted_landmarks: np.ndarray  # (L, 2) projections of the fitted model's landmarks
    energy: dict                 # weighted energy terms at the solution
    vertices: np.ndarray         # (V, 3) posed mesh, cm (world = camera frame for one photo)
    quality: float | None = None  # P(right face) from the ROI score (dlm.product.quality); None: uncalibrated
    # (68, 2) AFLW2000-3D's 68 points (the common 68-point annotation, jaw on the mandible's contour) from
    # the landmarks through the model's label translation (dlm.landmarks.label_translation); None: it has none.
    landmarks_68: np.ndarray | None = None

    @property
    def score(self) -> float:
        return self.roi.score


def aflw2000_68(pred: lmk.Predictor):
    """mu (..., L, 2) -> (..., 68, 2): the model's stored label translation to AFLW2000-3D's 68 points
    (a table whose coefficients depend on yaw reads it from ICT's 68 on the template), or None when
    its manifest has none."""
    table = lt.from_manifest(pred.manifest.get("label_translation", {}).get("aflw2000_68"))
    if table is None:
        return None
    template = roi_lib.landmark_template(pred.landmark_set)[:68] if lt.depends_on_yaw(table) else None
    return functools.partial(lt.translate, table=table, template=template)


def with_model_calibrations(results: list[FaceResult], pred: lmk.Predictor) -> list[FaceResult]:
    """The results with what the model's manifest calibrates on real photos: the probability that each
    is the right face (`quality`) and AFLW2000-3D's 68 points through its label translation."""
    cal = pred.manifest.get("quality")
    translate = aflw2000_68(pred)
    return [dataclasses.replace(r, quality=quality_lib.probability(r.roi.score, cal),
                                landmarks_68=None if translate is None else translate(r.landmarks))
            for r in results]


def predictor(model) -> lmk.Predictor:
    """A landmark model: a Predictor as it is, else a shipped name (offline, realtime) or a weights path."""
    return model if isinstance(model, lmk.Predictor) else lmk.shipped(str(model))


def _unbatch(tree, i):
    return jax.tree_util.tree_map(lambda a: np.asarray(a[i]), tree)


def fit_faces(detections, image_sizes, landmark_set: str, face_model: fm.FaceModel | None = None,
              same_person: bool = False, config: offline.FitConfig | None = None) -> list[FaceResult]:
    """Fit the model to detections (one per image, or several faces of one image).

    same_person: one identity over all detections (mode "images": each its own camera);
    otherwise each detection is fitted on its own."""
    model = face_model or fm.load_face_model()
    sizes = np.asarray(image_sizes, np.float32).reshape(-1, 2)
    if len(sizes) == 1:
        sizes = np.repeat(sizes, len(detections), 0)
    out = []
    if same_person:
        cfg = config or offline.FitConfig(landmark_set=landmark_set, mode="images")
        cfg = dataclasses.replace(cfg, mode="images", landmark_set=landmark_set)
        obs = en.Observations(np.stack([d.mu for d in detections])[:, None],
                              np.stack([d.sigma for d in detections])[:, None],
                              np.ones((len(detections), 1, len(detections[0].sigma)), np.float32))
        res = offline.fit(model, obs, sizes[:, None, :], config=cfg)
        groups = [(res, i, i) for i in range(len(detections))]
    else:
        cfg = config or offline.FitConfig(landmark_set=landmark_set, mode="monocular")
        cfg = dataclasses.replace(cfg, mode="monocular", landmark_set=landmark_set)
        groups = []
        for d, s in zip(detections, sizes):
            obs = en.Observations(d.mu[None, None], d.sigma[None, None], np.ones((1, 1, len(d.sigma)), np.float32))
            groups.append((offline.fit(model, obs, tuple(float(v) for v in s), config=cfg), 0, 0))
    for d, s, (res, f, _) in zip(detections, sizes, groups):
        # One camera (C = 1); its intrinsics are per frame in "images" mode ((F, 1) focal lengths).
        cams = res.cameras
        focal = np.asarray(cams.focal).reshape(-1)
        pp = np.asarray(cams.principal_point).reshape(-1, 2)
        camera = fm.Camera(np.asarray(cams.rotation)[0], np.asarray(cams.translation)[0],
                           np.float32(focal[min(f, len(focal) - 1)]), pp[min(f, len(pp) - 1)])
        out.append(FaceResult(
            image_size=(int(s[0]), int(s[1])), roi=d.roi, landmark_set=landmark_set,
            landmarks=np.asarray(d.mu), sigma=np.asarray(d.sigma), params=_unbatch(res.params, f),
            camera=camera, fitted_landmarks=np.asarray(res.landmarks_2d[f, 0]),
            energy=res.energy, vertices=np.asarray(res.vertices[f])))
    return out


def face_detector(detector):
    """"yunet" (the shared `dlm.product.detector` YuNet), None or "none" (no detector: the
    network's full search only), or a callable image -> boxes."""
    if detector == "yunet":
        return detector_lib.default_detector()
    if detector is None or detector == "none":
        return None
    if not callable(detector):
        raise ValueError(f"detector must be 'yunet', None or a callable, not {detector!r}")
    return detector


def detect(image: np.ndarray, model="offline", max_faces: int = 1, min_face: float | None = None,
           threshold: float | None = None, detector="yunet", average: bool = True) -> list[roi_lib.Detection]:
    """Faces in an RGB image, best first (`roi.find_faces`: where the face detector proposes, then
    the landmark network's full search if that found fewer than max_faces; detector None: the
    full search only); raises NoFaceError when there is none.  average: each face's landmarks
    averaged over its crop turned by +-10 degrees and the mirror image of each (`roi.averaged`:
    five more network passes per face, 6.86% -> 6.42% balanced NME on the dev photos); photos,
    batches and captures use it, the real-time tracker does not."""
    pred = predictor(model)
    dets = roi_lib.find_faces(image, pred, face_detector(detector), max_faces=max_faces, threshold=threshold,
                              min_face=min_face)
    if average:
        dets = [roi_lib.averaged(image, d, pred) for d in dets]
    if not dets:
        h, w = image.shape[:2]
        mf = max(24.0, min(h, w) / 10.0) if min_face is None else min_face
        raise NoFaceError(f"no face found in the {w}x{h} image (faces under {mf:.0f} px are not searched, "
                          f"see --min-face; no window's landmarks were certain enough)")
    return dets


def reconstruct_faces(image: np.ndarray, model="offline", max_faces: int = 1, face_model=None,
                      config: offline.FitConfig | None = None, min_face: float | None = None) -> list[FaceResult]:
    """Every face (up to max_faces) in an RGB image (H, W, 3) uint8, fitted separately."""
    pred = predictor(model)
    dets = detect(image, pred, max_faces, min_face)
    h, w = image.shape[:2]
    return with_model_calibrations(fit_faces(dets, (w, h), pred.landmark_set, face_model, config=config), pred)


def reconstruct(image: np.ndarray, model="offline", face_model=None, config: offline.FitConfig | None = None,
                min_face: float | None = None) -> FaceResult:
    """The largest face in an RGB image (H, W, 3) uint8: landmarks, sigma, parameters, mesh, camera.
    min_face: smallest face searched for, pixels (default: a tenth of the shorter side, at least 24)."""
    return reconstruct_faces(image, model, 1, face_model, config, min_face)[0]


def reconstruct_same_person(images, model="offline", face_model=None, config: offline.FitConfig | None = None) \
        -> list[FaceResult]:
    """Several photos of one person: one identity, a pose, expression and camera per photo."""
    pred = predictor(model)
    dets = [detect(im, pred, 1)[0] for im in images]
    sizes = [(im.shape[1], im.shape[0]) for im in images]
    return with_model_calibrations(fit_faces(dets, sizes, pred.landmark_set, face_model, same_person=True, config=config), pred)


# ---------------------------------------------------------------------------------------------
# Real-time tracking.

@dataclasses.dataclass
class TrackFrame:
    index: int
    found: bool
    roi: roi_lib.Roi | None
    landmarks: np.ndarray | None      # (L, 2) predicted mu, image pixels
    sigma: np.ndarray | None          # (L,)
    fit: object | None                # dlm.fitting.realtime.TrackResult
    searched: bool                    # this frame looked for a face (near the lost crop, the detector, the full search)
    timings_ms: dict                  # roi, cnn, fit
    quality: float | None = None      # P(right face) from the ROI score (dlm.product.quality)
    search_skipped: bool = False      # no track and no search: waiting after a search that found no face
    found_near: bool = False          # found around the crop of the track lost on this frame (no full search)
    found_by_detector: bool = False   # found where the face detector proposed (no full search)
    search_started: bool = False      # this frame handed the full search to a background thread


# Background full searches not yet joined: joined at interpreter exit (a thread still inside XLA
# when the interpreter exits aborts the process), for callers that never close().
_live_searches: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()


@atexit.register
def _join_live_searches():
    for thread in list(_live_searches):
        thread.join()


BACKGROUND_BATCH = 4     # windows per network call of a background search (Tracker._start_search)


class _Stopped(Exception):
    pass


class _Stoppable:
    """A predictor whose calls raise _Stopped once `stop` is set (a background search no longer
    wanted ends at its next network call); every attribute is the predictor's."""

    def __init__(self, predictor, stop: threading.Event):
        self._predictor, self._stop = predictor, stop

    def __call__(self, crops):
        if self._stop.is_set():
            raise _Stopped
        return self._predictor(crops)

    def __getattr__(self, name):
        return getattr(self._predictor, name)


def _landmarks_in_image(apply_fn, size: int, crop, crop_to_image):
    """The landmark CNN on one crop, mapped to image pixels (jittable).

    Args:
      crop: (S, S, 3) uint8 RGB.
      crop_to_image: (2, 3) float32 affine map from crop to image pixels (a similarity).
    Returns mu (L, 2) and sigma (L,) in image pixels, and the crop's score (mean log(sigma / S)).
    """
    mu, sigma = apply_fn(crop[None])
    mu, sigma = mu[0], sigma[0]
    scale = jnp.sqrt(jnp.abs(jnp.linalg.det(crop_to_image[:, :2])))
    mu_image = mu @ crop_to_image[:, :2].T + crop_to_image[:, 2]    # l i, j i -> l j
    return mu_image, sigma * scale, jnp.mean(jnp.log(sigma / size))


class Tracker:
    """Frame-by-frame tracking: the ROI comes from the previous frame's fitted landmarks, rotated
    upright with the eyes level; the first frame, and any frame after the track is lost (a crop
    whose mean log sigma is above `lost_score`, or a fit that explains the landmarks badly), looks
    for the face: around the lost crop, then where the face detector proposes, then by the
    landmark network's full search.  A track found again keeps the lost track's identity
    (`RealtimeFitter.lose`).

    Args:
      image_size: (width, height) of the frames.
      model: landmark predictor ("realtime", a weights path, or a Predictor).
      solver: the real-time fitter's solver ("jit" or "exported"); see RealtimeFitter.
      min_quality: the track is dropped (and the next frame searches) when a frame's quality
        (dlm.product.quality) falls under it; needs the model's quality calibration.  None: the
        calibrated default `min_quality`; 0: only the face / no-face threshold.
      max_search_gap: after a full search that finds no face, the next one waits 1, 2, 4 ... frames,
        at most this many (0: search every frame without a track).  The full search costs tens to
        hundreds of tracked frames; a clip with no face in view would otherwise run it on every
        frame (issue 20: 315 of 795 frames of the benchmark clip).  A lost track still searches on
        the frame it was lost; a face that comes back is found within max_search_gap + 1 frames,
        and at once when the detector sees it: waiting frames run the detector (not the search).
      search_near: on the frame a track is lost, look for the face around its last crop first
        (`roi.search_near`: 27 crops and a refinement, tens of ms) and run the full search only
        if that finds nothing.  A track lost to blur, an occluder or a dip in the crop's score
        then costs a small fraction of a full search (hundreds of ms to seconds on one core).
      detector: "yunet" (default: `dlm.product.detector`, ~10 ms a frame), None, or a callable
        image -> (N, 4+) boxes x, y, w, h best first.  Where there is no track (and search_near
        found nothing) the detector's boxes are scored and refined by the landmark network
        (`roi.search_proposals`, the same checks as the full search) and the full search runs only
        when none of them is a face: a face coming into view costs tens of ms, not seconds.  It
        also runs on the frames that wait for the next full search (~10 ms each on 640 x 360).
      background_search: live sources (a camera): the full search runs in a background thread on
        a copy of the frame while the following frames go on (the detector still looks on each),
        instead of holding the frame thread for its hundreds of ms to seconds, in which a camera's
        frames are dropped.  A face it finds is looked for around its crop on the frame that
        collects it (`roi.search_near`: the face moved meanwhile).  Its frame reports
        search_started; the frames it runs through report search_skipped.  Off by default: a file
        is tracked the same whatever the machine's speed only when the search holds its frame.
    """

    def __init__(self, image_size, model="realtime", face_model=None, solver="jit", lost_score: float | None = None,
                 min_face: float | None = None, fuse: bool | None = None, min_quality: float | None = None,
                 max_search_gap: int = 8, search_near: bool = True, detector="yunet", background_search: bool = False,
                 **fitter_kwargs):
        if max_search_gap < 0:
            raise ValueError(f"max_search_gap must be >= 0, got {max_search_gap}")
        self.max_search_gap = int(max_search_gap)
        self.background_search = bool(background_search)
        self._search = None      # a background full search: (thread, box for its detections, stop event)
        self.search_near = search_near
        self.detector = face_detector(detector)
        self.predictor = predictor(model)
        self.face_model = face_model or fm.load_face_model()
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.fitter = RealtimeFitter(self.face_model, self.image_size, landmark_set=self.predictor.landmark_set,
                                     solver=solver, **fitter_kwargs)
        thr = self.predictor.manifest.get("roi_threshold")
        self.lost_score = lost_score if lost_score is not None else thr
        self.quality_calibration = self.predictor.manifest.get("quality")
        if min_quality is None and self.quality_calibration:
            min_quality = self.quality_calibration["min_quality"]
        if min_quality:
            if not self.quality_calibration:
                raise ValueError("min_quality needs a landmark model with a quality calibration")
            q = quality_lib.max_score(min_quality, self.quality_calibration)
            self.lost_score = q if self.lost_score is None else min(self.lost_score, q)
        self.min_quality = min_quality
        self.min_face = min_face
        # fuse: tracked frames run the CNN and the fit as one compiled program (solver "jit" only), whose
        # network is XLA's whatever the predictor's runtime.  None (the default): fused when the predictor
        # runs XLA; with ONNX Runtime (the default runtime) the network, then the fit as a second call, is
        # faster: its network 0.51 against XLA's 0.64 ms, and the fit's call, fed host arrays, 0.45 ms
        # against its program's 0.43 (one core of the 2-core AMD EPYC, session 63, `experiments/frame_runtime_ab.py
        # --defaults`: tracked frames 1.56 against 1.69 ms median, p90 1.79 against 2.01).
        if fuse is None:
            fuse = getattr(self.predictor, "runtime", "xla") == "xla"
        self.fuse = bool(fuse) and solver == "jit"
        # The predictor's weights are bound in: constants of the compiled frame (`Predictor.apply_fn`).
        self._landmark_fn = functools.partial(_landmarks_in_image, self.predictor.apply_fn, self.predictor.size)
        self.reset()

    def close(self):
        """End of the stream: wait for the fitter's identity refit (see RealtimeFitter.close) and a
        background search."""
        self._drop_search()
        self.fitter.close()

    def reset(self):
        self._drop_search()
        self.roi = None
        self.index = 0
        self.fitter.reset()
        self._search_gap = 0     # frames the last failed search made the next one wait
        self._search_wait = 0    # frames still to wait before searching again
        self._lost_roi = None    # the crop of a track lost on this frame (searched around first)

    def _drop_search(self):
        """Stop a running background search, wait for it and discard what it found."""
        if self._search is not None:
            self._search[2].set()
            self._search[0].join()
            _live_searches.discard(self._search[0])
            self._search = None

    def wait_for_search(self):
        """Block until a background search has finished (tests, benchmarks); the next frame uses it."""
        if self._search is not None:
            self._search[0].join()

    def _start_search(self, frame: np.ndarray, keep):
        box, stop = {}, threading.Event()
        frame = frame.copy()      # the caller may reuse its frame buffer
        # Windows in calls of BACKGROUND_BATCH: XLA:CPU runs one program at a time on its thread,
        # so a tracked frame waits for the search's call in progress (a call of 32 windows held
        # frames ~50 ms on one core).
        net = _Stoppable(self.predictor, stop)

        def work():
            try:
                box["dets"] = keep(roi_lib.search(frame, net, max_faces=1, min_face=self.min_face,
                                                  batch=BACKGROUND_BATCH))
            except _Stopped:
                box["dets"] = []
            except Exception as e:     # raised on the frame that collects it
                box["error"] = e
        thread = threading.Thread(target=work, name="dlm-face-search", daemon=True)
        self._search = (thread, box, stop)
        _live_searches.add(thread)
        thread.start()

    def _collect_search(self):
        """A finished background search's detections (a list), or None while one runs or none was started."""
        if self._search is None or self._search[0].is_alive():
            return None
        thread, box, _ = self._search
        _live_searches.discard(thread)
        self._search = None
        if "error" in box:
            raise box["error"]
        return box["dets"]

    def _accept(self, mu, sigma, score) -> bool:
        return self.lost_score is None or float(score) <= self.lost_score

    def __call__(self, frame: np.ndarray) -> TrackFrame:
        """Track one (H, W, 3) uint8 RGB frame.  timings_ms has "roi" (crops, search, next ROI)
        and either "cnn" and "fit" or, on a frame whose CNN and fit ran as one program, "cnn_and_fit"."""
        self._check_frame(frame)
        t = {"roi": 0.0}
        if self.roi is None:
            return self._after_cnn(frame, t, None, None)
        size = self.predictor.size
        t0 = time.perf_counter()
        crop = roi_lib.crop(frame, self.roi, size)
        t1 = time.perf_counter()
        t["roi"] = (t1 - t0) * 1e3
        if not (self.fuse and self.fitter.x is not None):
            # np.asarray, not jax.device_get: ONNX Runtime's output is already on the host, and device_get's
            # tree handling cost ~0.03 ms a frame for nothing (an XLA predictor's arrays are fetched either way).
            m, s = (np.asarray(a) for a in self.predictor(crop[None]))
            t["cnn"] = (time.perf_counter() - t1) * 1e3
            return self._after_cnn(frame, t, m[0], s[0])
        a = np.vstack([self.roi.transform(size), [0.0, 0.0, 1.0]])
        crop_to_image = np.linalg.inv(a)[:2].astype(np.float32)
        fit, (m, s, score) = self.fitter.step_from(
            self._landmark_fn, (crop, crop_to_image), accept=self._accept)
        t["cnn_and_fit"] = (time.perf_counter() - t1) * 1e3
        if fit is None:
            self.reset_track()
            return self._after_landmarks(frame, t, None, None, None, None)
        return self._after_landmarks(frame, t, m, s, fit, dataclasses.replace(self.roi, score=float(score)))

    def _check_frame(self, frame: np.ndarray):
        h, w = frame.shape[:2]
        if (w, h) != self.image_size:
            raise InputError(f"frame {self.index} is {w}x{h}, the tracker was made for "
                             f"{self.image_size[0]}x{self.image_size[1]}")

    def _after_cnn(self, frame, t, m, s) -> TrackFrame:
        """The rest of a frame given the CNN's output on the tracked crop (m (L, 2), s (L,) crop
        pixels), or None when there was no track."""
        mu = sigma = roi_used = None
        if m is not None:
            size = self.predictor.size
            score = float(np.mean(np.log(s / size)))
            if not self._accept(m, s, score):
                self.reset_track()
            else:
                mu = self.roi.to_image(m, size)
                sigma = s * self.roi.side / size
                roi_used = dataclasses.replace(self.roi, score=score)
        return self._after_landmarks(frame, t, mu, sigma, None, roi_used)

    def _after_landmarks(self, frame, t, mu, sigma, fit, roi_used) -> TrackFrame:
        """Search when there are no landmarks (mu None), fit unless `fit` is given, next ROI."""
        h, w = frame.shape[:2]
        searched = near = by_detector = False
        if mu is None:
            # The searches' own threshold is the network's ROI threshold; a face the tracked
            # frames would drop (a score over lost_score: under min_quality) is no face here
            # either, or the track flips between search and loss on every frame.
            keep = lambda ds: [d for d in ds if self.lost_score is None or d.score <= self.lost_score]  # noqa: E731

            def proposed():
                # Of several faces, the largest (the shot's subject), as `detect` takes for photos.
                t1 = time.perf_counter()
                found = roi_lib.ordered("largest", keep(roi_lib.search_proposals(
                    frame, self.detector(frame), self.predictor, max_faces=5, min_face=self.min_face)))[:1]
                t["detector"] = t.get("detector", 0.0) + (time.perf_counter() - t1) * 1e3
                return found
            dets = []
            from_search = self._collect_search()
            if from_search:     # where the face was on the search's frame: look around there now
                self._lost_roi = from_search[0].roi
                self._search_gap = self._search_wait = 0
            elif from_search is not None:
                self._back_off()
            running = self._search is not None
            if self._search_wait > 0 or running:
                # Waiting for the next full search (or for the one running in the background): only
                # the detector looks (milliseconds, and a CNN pass per box it proposes), so a face
                # it can see is found at once.
                self._search_wait -= int(not running)
                if self.detector is not None:
                    t0 = time.perf_counter()
                    dets = proposed()
                    t["roi"] += (time.perf_counter() - t0) * 1e3
                if not dets:
                    self.index += 1
                    return TrackFrame(self.index - 1, False, None, None, None, None, False, t, search_skipped=True)
                by_detector = True
            searched = True
            t0 = time.perf_counter()
            lost, self._lost_roi = self._lost_roi, None
            # A background search's face is always looked for around its crop: its landmarks are
            # from an older frame.
            if not dets and lost is not None and (self.search_near or from_search):
                dets = roi_lib.search_near(frame, lost, self.predictor, threshold=self.lost_score,
                                           min_face=self.min_face)
                t["search_near"] = (time.perf_counter() - t0) * 1e3
                near = bool(dets)
            if not dets and not by_detector and self.detector is not None:
                dets = proposed()
                by_detector = bool(dets)
            if not dets and self.background_search:
                self._start_search(frame, keep)
                t["roi"] += (time.perf_counter() - t0) * 1e3
                self.index += 1
                return TrackFrame(self.index - 1, False, None, None, None, None, True, t, search_started=True)
            if not dets:
                dets = keep(roi_lib.search(frame, self.predictor, max_faces=1, min_face=self.min_face))
            t["roi"] += (time.perf_counter() - t0) * 1e3
            if not dets:
                self._back_off()
                self.index += 1
                return TrackFrame(self.index - 1, False, None, None, None, None, True, t)
            self._search_gap = self._search_wait = 0
            self._drop_pending_search()
            mu, sigma, roi_used = dets[0].mu, dets[0].sigma, dets[0].roi
            # The face found is taken to be the one tracked before: its identity is kept and the
            # pose found from the landmarks (the fitter falls back to a cold start when that
            # identity cannot explain them, and refits identity once its keyframes are full).
            self.fitter.lose()
        if fit is None:
            t0 = time.perf_counter()
            fit = self.fitter.step(mu, sigma)
            t["fit"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        # The crop's roll follows the fitted eye line only as far as the eyes are apart: on a profile
        # the line points anywhere and would turn the next crop at random (`roi.EYE_ROLL_RATIO`).
        nxt = None if self.fitter.x is None else roi_lib.roi_from_landmarks(
            np.asarray(fit.landmarks_2d), self.predictor.landmark_set,
            prior_angle=None if roi_used is None else roi_used.angle)
        # Lost by the fitter, or a crop shrunk below the smallest face searched for (a track that
        # collapsed onto a small patch after a scene cut): search on the next frame.
        min_face = self.min_face if self.min_face is not None else max(24.0, min(h, w) / 10.0)
        self.roi = nxt if nxt is not None and nxt.side * roi_lib.FILL >= min_face else None
        t["roi"] += (time.perf_counter() - t0) * 1e3
        self.index += 1
        return TrackFrame(self.index - 1, True, roi_used, np.asarray(mu), np.asarray(sigma), fit, searched, t,
                          quality_lib.probability(roi_used.score, self.quality_calibration),
                          found_near=searched and near, found_by_detector=searched and by_detector)

    def _back_off(self):
        """A full search found no face: the next one waits 1, 2, 4 ... frames (max_search_gap)."""
        self._search_gap = min(max(1, 2 * self._search_gap), self.max_search_gap)
        self._search_wait = self._search_gap

    def _drop_pending_search(self):
        """A face was found another way: a background search still running is stopped at its next
        network call (it would otherwise hold the core for the rest of its windows); its result
        is never read, its thread not waited for."""
        if self._search is not None:
            self._search[2].set()
            self._search = None

    def reset_track(self):
        self._lost_roi = self.roi
        self.roi = None
        self.fitter.lose()


def track_streams(trackers: list, frames: list) -> list:
    """Throughput mode: one frame of each of several streams (one Tracker each, all made with the
    same predictor), with the landmark CNN run once over every stream that has a track: one
    batched call instead of one per stream (on one CPU core the CNN's cost per image at batch 8
    is about half its cost at batch 1).  The fits, searches and next ROIs stay per stream, so
    each stream's frames are tracked as its own Tracker tracks them unfused (its `fuse` is not
    used).  timings_ms: "cnn" is the batched call's time over the number of crops in it.
    Returns one TrackFrame per stream, in order."""
    if len(trackers) != len(frames):
        raise ValueError(f"{len(trackers)} trackers and {len(frames)} frames")
    pred = trackers[0].predictor if trackers else None
    if any(tr.predictor is not pred for tr in trackers):
        raise ValueError("track_streams: every tracker must share one predictor (one batched CNN call)")
    times, crops, tracked = [], [], []
    for i, (tr, frame) in enumerate(zip(trackers, frames)):
        tr._check_frame(frame)
        t = {"roi": 0.0}
        if tr.roi is not None:
            t0 = time.perf_counter()
            crops.append(roi_lib.crop(frame, tr.roi, pred.size))
            t["roi"] = (time.perf_counter() - t0) * 1e3
            tracked.append(i)
        times.append(t)
    m = s = None
    if crops:
        t0 = time.perf_counter()
        m, s = jax.device_get(pred(np.stack(crops)))
        per_crop = (time.perf_counter() - t0) * 1e3 / len(crops)
        for i in tracked:
            times[i]["cnn"] = per_crop
    where = {i: k for k, i in enumerate(tracked)}
    return [tr._after_cnn(frame, times[i], *((m[where[i]], s[where[i]]) if i in where else (None, None)))
            for i, (tr, frame) in enumerate(zip(trackers, frames))]
