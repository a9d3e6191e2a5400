"""Kernel logs as bytes in, boots and crashes out: pure, no I/O."""
