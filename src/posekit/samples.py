"""A real sample photo for demos and benchmarks, available without any dataset.

scikit-image ships NASA's public-domain portrait of astronaut Eileen Collins; we write it once into the cache
as PNG. (`pip install 'posekit[demo]'` brings scikit-image.)
"""

from __future__ import annotations

from pathlib import Path

from posekit.errors import PosekitError


def sample_image() -> Path:
    """Path of the sample photo (512 x 512 RGB PNG), created on first use."""
    import io

    from posekit.atomic import write_atomic
    from posekit.hub import cache_dir

    path = cache_dir() / "samples" / "astronaut.png"
    if path.is_file():
        return path
    try:
        from skimage import data
    except ImportError:
        raise PosekitError("the sample photo needs scikit-image: pip install 'posekit[demo]'") from None
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(data.astronaut()).save(buf, format="PNG")
    write_atomic(path, buf.getvalue())
    return path


if __name__ == "__main__":
    print(sample_image())
