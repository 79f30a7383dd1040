"""segvggt: feed-forward 3D reconstruction and instance segmentation from unposed photos.

Importing the package does nothing but define names; heavy sub-packages load on first use.
"""

__version__ = "0.1.0"

__all__ = ["build_segvggt", "__version__"]


def __getattr__(name: str):
    # Lazy so that `import segvggt` stays cheap and free of side effects.
    if name == "build_segvggt":
        from segvggt.segmentation.segvggt import build_segvggt

        return build_segvggt
    raise AttributeError(f"module 'segvggt' has no attribute {name!r}")
