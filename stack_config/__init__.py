"""Typed, validated stack configuration: the edge between `Pulumi.<stack>.yaml` and the components."""

from .loader import PROJECT, ConfigError, StackSettings, load_stack_config, validate_stack_config
from .platform import PlatformConfig

__all__ = ["PROJECT", "ConfigError", "PlatformConfig", "StackSettings", "load_stack_config", "validate_stack_config"]
