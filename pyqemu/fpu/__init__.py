"""Floating point for the emulated CPUs: exact IEEE 754 arithmetic on raw bit
patterns with RISC-V's NaN, rounding and flag rules (see softfloat)."""
