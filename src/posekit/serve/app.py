"""The FastAPI app: a handful of typed endpoints over the library.

``GET /`` the web page, ``GET /static/{path}`` its files, ``GET /healthz``, ``GET /metrics`` (Prometheus),
``GET /v1/models``, ``POST /v1/poses`` (one image -> poses), ``WS /v1/stream`` (webcam frames -> tracked
poses, one frame in flight per client). Errors are JSON ``{"error": "..."}`` with the right status.
"""

# (No `from __future__ import annotations`: FastAPI reads the annotations of the endpoints defined inside
# create_app, which string annotations would hide from it.)
import asyncio
import hmac
import importlib.resources
import logging
import mimetypes
import time
from contextlib import asynccontextmanager
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketDisconnect

from posekit.errors import PosekitError
from posekit.formats import coco_image_id, to_coco_results
from posekit.models.detectors import DEFAULT_DETECTOR, DETECTORS
from posekit.models.registry import list_models
from posekit.serve.metrics import Metrics
from posekit.serve.pool import ModelPool, UnknownModel
from posekit.serve.upload import Estimate, estimate_upload

log = logging.getLogger("posekit.serve")
Detector = Literal[DETECTORS]  # type: ignore[valid-type]
TTA = Literal["none", "flip", "flip,rot"]
# Raw-body uploads: the image types the page and curl send (anything else is 415).
RAW_TYPES = ("image/jpeg", "image/png", "image/webp", "application/octet-stream")
UPLOAD_HINT = ("send the image as multipart field 'file' or as the raw body with Content-Type "
               f"{', '.join(RAW_TYPES)}")


class Timing(BaseModel):
    decode_ms: float
    inference_ms: float
    total_ms: float


class PosesResult(BaseModel):
    """poses: PoseNet layout (score, keypoints [{part, position {x, y}, score}], box) or COCO results,
    in original-image pixels."""

    model: str
    width: int
    height: int
    poses: list[dict[str, Any]]
    timing: Timing


class ModelsResult(BaseModel):
    default: str
    loaded: list[str]
    available: list[str]
    note: str = "any available model can be requested; one not loaded yet loads on first use"


class TooLarge(HTTPException):
    """An HTTPException, so FastAPI passes it through its body parsing to the JSON handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"upload larger than the server's limit of {limit / 2**20:g} MB; send a "
                              "smaller image (or start the server with a larger --max-upload-mb)")


class UploadCheck:
    """ASGI middleware, before any body is read: a POST must be multipart or one of RAW_TYPES (415), and no
    body may pass ``limit`` bytes (413): refused by its Content-Length at once, else counted as it arrives
    (a chunked body stops being read at the limit)."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await error_response(TooLarge(self.limit))(scope, receive, send)
        content_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if (scope["method"], scope["path"]) == ("POST", "/v1/poses") and content_type not in (
                *RAW_TYPES, "multipart/form-data"):
            return await error_response(HTTPException(
                415, f"Content-Type {content_type or '(none)'!r} is not an image; {UPLOAD_HINT}"))(
                scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise TooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


class RecordMetrics:
    """ASGI middleware: count every HTTP response by endpoint (the route's path template) and status."""

    def __init__(self, app, metrics: Metrics, paths: set[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500
        t0 = time.perf_counter()

        async def send_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or (scope["path"] if scope["path"] in self.paths
                                                        else "other")
            self.metrics.record(endpoint, status, time.perf_counter() - t0)


def error_response(exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=getattr(exc, "headers", None))


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one line: where, what, and the value given."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ())]
        where = f"{loc[0]} parameter {'.'.join(loc[1:])}" if len(loc) > 1 else ".".join(loc) or "request"
        given = f" (got {err['input']!r})" if isinstance(err.get("input"), str | int | float) else ""
        parts.append(f"{where}: {err.get('msg', 'invalid')}{given}")
    return "; ".join(parts) + "; see /docs for the accepted values"


def create_app(models: list[str] | None = None, token: str | None = None, max_upload_mb: float = 20.0,
               cors: list[str] | None = None, threads: int | None = None, precision: str = "fp32") -> FastAPI:
    """The service, with ``models`` (the first is the default) loaded now, each request's decode and
    inference on a pool of ``threads`` (default: the cores). ``token``: required as a Bearer token on /v1.
    ``precision``: fp32 or int8 for every model."""
    pool = ModelPool(models or ["movenet-lightning", "movenet-multipose"], threads, precision)
    metrics = Metrics()
    static = importlib.resources.files("posekit.serve") / "static"
    bearer = HTTPBearer(auto_error=False, description="the server's --token")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.close()

    app = FastAPI(title="posekit", version=_version(), lifespan=lifespan,
                  description="2D human pose estimation on CPU: images and webcam streams -> poses.")

    def authorized(given: str | None) -> bool:
        return token is None or (given is not None and hmac.compare_digest(given.encode(), token.encode()))

    def same_origin(websocket: WebSocket) -> bool:
        """Browsers apply no CORS to WebSockets: refuse pages from other origins (unless --cors lists
        them), so a web page cannot use a local server behind its user's back. Non-browser clients send
        no Origin."""
        origin = websocket.headers.get("origin")
        return (origin is None or urlsplit(origin).netloc == websocket.headers.get("host")
                or origin in (cors or ()))

    def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if not authorized(credentials.credentials if credentials else None):
            raise HTTPException(401, "missing or wrong token; send the header 'Authorization: Bearer TOKEN' "
                                     "with the server's --token", headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(StarletteHTTPException)  # FastAPI's and Starlette's own (404, 405, bad multipart)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": validation_message(exc)}, 422)

    @app.exception_handler(UnknownModel)
    async def unknown_model(request: Request, exc: UnknownModel) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 404)

    @app.exception_handler(PosekitError)
    async def posekit_error(request: Request, exc: PosekitError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 422)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); please report it"}, 500)

    def static_file(path: str) -> Response:
        parts = PurePosixPath(path).parts
        if not parts or any(p in ("..", ".", "/") or "\\" in p or ":" in p for p in parts):
            raise HTTPException(404, f"no static file {path!r}")
        resource = static.joinpath(*parts)
        if not resource.is_file():
            raise HTTPException(404, f"no static file {path!r} (the page's files: posekit/serve/static)")
        media_type = mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
        return Response(resource.read_bytes(), media_type=media_type, headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return static_file("index.html")

    @app.get("/static/{path:path}", include_in_schema=False)
    def static_files(path: str) -> Response:
        return static_file(path)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", dependencies=[Depends(require_token)])
    def models_() -> ModelsResult:
        return ModelsResult(default=pool.default, loaded=pool.loaded(), available=list_models())

    @app.post("/v1/poses", dependencies=[Depends(require_token)], response_model=PosesResult,
              responses={401: {}, 404: {}, 413: {}, 415: {}, 422: {}})
    async def poses(
        request: Request,
        file: Annotated[UploadFile | None, File(description="the image (or send it as the raw body)")] = None,
        model: Annotated[str | None, Query(description="zoo model (default: the server's first)")] = None,
        fmt: Annotated[Literal["posenet", "coco"], Query(alias="format")] = "posenet",
        min_score: Annotated[float, Query(ge=0.0, le=1.0, description="drop people scoring lower")] = 0.25,
        mode: Annotated[Literal["whole", "topdown"], Query(description="topdown: a detector's boxes, then "
                                                          "a one-person model on each")] = "whole",
        detector: Annotated[Detector | None, Query(description="person detector of mode=topdown (default: "
                                                               f"{DEFAULT_DETECTOR})")] = None,
        tta: Annotated[TTA, Query(description="test-time augmentation of one-person crops")] = "none",
    ) -> JSONResponse:
        """Poses in one image, in original-image pixels."""
        t0 = time.perf_counter()
        predictor = await pool.get_async(model, mode, min_score, detector, tta)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if file is not None:
            data, name = await file.read(), file.filename or ""
        elif content_type == "multipart/form-data":
            raise HTTPException(422, f"the multipart upload has no field 'file'; {UPLOAD_HINT}")
        else:  # UploadCheck let only multipart and RAW_TYPES through
            data, name = await request.body(), ""
        found: Estimate = await pool.run(estimate_upload, predictor.predict, data, predictor.spec.input_size)
        layout = (to_coco_results(found.poses, coco_image_id(PurePosixPath(name).stem) if name else 0)
                  if fmt == "coco" else found.poses.to_posenet())
        timing = {"decode_ms": round(found.decode_ms, 3), "inference_ms": round(found.inference_ms, 3),
                  "total_ms": round((time.perf_counter() - t0) * 1000.0, 3)}
        return JSONResponse({"model": predictor.spec.name, "width": found.size[0], "height": found.size[1],
                             "poses": layout, "timing": timing})

    @app.websocket("/v1/stream")
    async def stream(
        websocket: WebSocket,
        model: str | None = None,
        min_score: Annotated[float, Query(ge=0.0, le=1.0)] = 0.25,
        token: Annotated[str | None, Query(alias="token")] = None,
        mode: Annotated[Literal["whole", "topdown"], Query()] = "whole",
        detector: Annotated[Detector | None, Query()] = None,
        tta: Annotated[TTA, Query()] = "none",
    ) -> None:
        """Binary JPEG/PNG frames in, one JSON answer per processed frame out (poses with track_id). With
        mode=topdown the detector runs every few frames and each person's crop follows them between."""
        await websocket.accept()
        header = websocket.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else token
        try:
            if not authorized(given):
                raise HTTPException(401, "missing or wrong token; connect with ?token=TOKEN (the server's "
                                         "--token)")
            if not same_origin(websocket):
                raise HTTPException(403, f"pages from {websocket.headers['origin']} may not connect; start "
                                         "the server with --cors ORIGIN to allow them")
            predictor = await pool.get_async(model, mode, min_score, detector, tta)
        except (HTTPException, PosekitError) as err:
            await websocket.send_json({"error": str(getattr(err, "detail", err))})
            await websocket.close(1008)
            return
        await stream_frames(websocket, predictor, pool, metrics)

    paths = {route.path for route in app.routes}
    app.add_middleware(UploadCheck, limit=int(max_upload_mb * 2**20))
    if cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cors, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(RecordMetrics, metrics=metrics, paths=paths)
    app.state.pool = pool
    app.state.metrics = metrics
    return app


class LatestFrame:
    """A one-slot mailbox: ``put`` replaces a frame still waiting (counted in ``dropped``); ``take`` waits
    for the next frame, or returns None once the client is gone."""

    def __init__(self) -> None:
        self.frame: tuple[bytes, float] | None = None
        self.dropped = 0
        self.closed = False
        self._ready = asyncio.Event()

    def put(self, frame: tuple[bytes, float]) -> None:
        if self.frame is not None:
            self.dropped += 1
        self.frame = frame
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self.frame = None
        self._ready.set()

    async def take(self) -> tuple[bytes, float] | None:
        while self.frame is None and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        frame, self.frame = self.frame, None
        return frame


async def receive_frames(websocket: WebSocket, mailbox: LatestFrame) -> None:
    """Put each message in the mailbox with its arrival time (monotonic seconds) until the client leaves."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is None:  # a text message: answered as a bad frame
                data = (message.get("text") or "").encode()
            mailbox.put((data, time.monotonic()))
    finally:
        mailbox.close()


async def stream_frames(websocket: WebSocket, predictor, pool: ModelPool, metrics: Metrics) -> None:
    """Answer the latest frame, one at a time, through this connection's own tracker."""
    from posekit.video.pose_tracker import PoseTracker

    tracker = PoseTracker(predictor, smooth=True)
    mailbox = LatestFrame()
    receiver = asyncio.create_task(receive_frames(websocket, mailbox))
    metrics.ws_clients += 1
    metrics.ws_connections += 1
    processed = dropped_seen = 0
    try:
        while (frame := await mailbox.take()) is not None:
            data, arrived = frame
            try:
                found = await pool.run(estimate_upload, lambda rgb, t=arrived: tracker.update(rgb, t), data,
                                       predictor.spec.input_size)
            except PosekitError as err:
                metrics.frame_errors += 1
                await websocket.send_json({"error": f"frame not processed: {err}"})
                continue
            processed += 1
            metrics.frames += 1
            metrics.frames_dropped += mailbox.dropped - dropped_seen
            dropped_seen = mailbox.dropped
            if mailbox.closed:
                break
            await websocket.send_json({
                "frame": processed, "width": found.size[0], "height": found.size[1],
                "poses": found.poses.to_posenet(),
                "timing": {"decode_ms": round(found.decode_ms, 3),
                           "inference_ms": round(found.inference_ms, 3),
                           "total_ms": round((time.monotonic() - arrived) * 1000.0, 3)},
                "dropped": mailbox.dropped,
            })
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client left while we answered
    finally:
        receiver.cancel()
        metrics.ws_clients -= 1
        metrics.frames_dropped += mailbox.dropped - dropped_seen


def _version() -> str:
    from posekit import __version__

    return __version__
