"""Our VGGT backbone, checkpoint-compatible with the official VGGT-1B (see vggt.py for usage)."""

from segvggt.backbone.checkpoint import CheckpointError, load_vggt_checkpoint
from segvggt.backbone.config import AggregatorConfig, CameraHeadConfig, DinoConfig, DPTConfig, VGGTConfig
from segvggt.backbone.dpt_head import DPTHead
from segvggt.backbone.images import ImageRecord, load_and_preprocess_images
from segvggt.backbone.pose_encoding import extri_intri_to_pose_encoding, pose_encoding_to_extri_intri
from segvggt.backbone.unproject import unproject_depth_map_to_point_map
from segvggt.backbone.vggt import VGGT, build_vggt

__all__ = [
    "AggregatorConfig",
    "CameraHeadConfig",
    "CheckpointError",
    "DPTConfig",
    "DPTHead",
    "DinoConfig",
    "ImageRecord",
    "VGGT",
    "VGGTConfig",
    "build_vggt",
    "extri_intri_to_pose_encoding",
    "load_and_preprocess_images",
    "load_vggt_checkpoint",
    "pose_encoding_to_extri_intri",
    "unproject_depth_map_to_point_map",
]
