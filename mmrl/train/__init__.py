"""Training: the DeepSpeed engine, the step loop, rewards, metrics/loggers, checkpoint/resume/export."""
from .loop import Trainer

__all__ = ["Trainer"]
