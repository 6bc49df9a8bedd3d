"""Progbar: Keras 3's progress bar and its number formats."""

from __future__ import annotations

import numbers
import sys
import time

_BAR_WIDTH = 20

_BAR_CHAR = "\u2501"  # ━


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _format_step_time(seconds: float) -> str:
    """Keras's time per step: `1s/step`, `12ms/step`, `850us/step` (0 prints as `0s/step`)."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_value(v, signed: bool = True) -> str:
    """4 decimals, or scientific notation for small values, as Keras prints them (verbose=1 compares |v| with 1e-3,
    verbose=2 compares v itself)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return str(v)
    v = float(v)
    return f"{v:.4f}" if (abs(v) if signed else v) > 1e-3 else f"{v:.4e}"


class Progbar:
    """Keras 3's progress bar for `target` steps.

    verbose=1: a live bar updated in place on a terminal
    (`12/32 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.5120 - loss: 0.6931`, the ETA while running, the elapsed
    time when done); when the stream is not a terminal only the final line is printed, without control characters.
    verbose=2: the final line only, `32/32 - 0s - 2ms/step - ...`. The stream is sys.stdout at the time of writing
    unless one is given. Updates are printed as they come: fastann's C++ loops already bound their rate."""

    def __init__(self, target: int, verbose: int = 1, stream=None):
        self.target = int(target)
        self.verbose = verbose
        self._stream = stream
        self.dynamic = _isatty(self.stream)
        self._start = time.perf_counter()
        self._after_first_step = None
        self._prev_width = 0

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stdout

    def _step_time(self, current: int, now: float) -> float:
        # As Keras: the first step (often slower) is left out once there are others.
        if current <= 0:
            return 0.0
        if self._after_first_step is not None and current > 1:
            per_step = (now - self._after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._after_first_step = now
        return per_step

    def _write(self, text: str) -> None:
        stream = self.stream
        stream.write(text)
        stream.flush()

    def update(self, current: int, logs=None, finalize: bool = False) -> None:
        """Shows `current` steps done with `logs` (name -> value); finalize prints the final line."""
        logs = logs or {}
        now = time.perf_counter()
        if self.verbose == 2:
            if not finalize:
                return
            per_step = (now - self._start) / max(current, 1)
            values = "".join(f" - {k}: {_format_value(v, signed=False)}" for k, v in logs.items())
            self._write(f"{self._count(current)} - {now - self._start:.0f}s - {_format_step_time(per_step)}"
                        f"{values}\n")
            return
        if self.verbose != 1:
            return
        per_step = self._step_time(current, now)
        if not finalize and not self.dynamic:
            return
        count = self._count(current)
        done = min(int(_BAR_WIDTH * current / self.target), _BAR_WIDTH) if self.target > 0 else _BAR_WIDTH
        when = f"{now - self._start:.0f}s" if finalize else _format_eta(per_step * (self.target - current))
        tail = f" {_format_step_time(per_step)}" + "".join(f" - {k}: {_format_value(v)}" for k, v in logs.items())
        visible = f"{count} {_BAR_CHAR * _BAR_WIDTH} {when}{tail}"
        if not self.dynamic:
            self._write(visible + "\n")
            return
        # On a terminal, as Keras 3: back over the previous line, bold count and time, green done / gray rest.
        text = "\b" * self._prev_width + "\r" + f"\x1b[1m{count}\x1b[0m "
        if done > 0:
            text += f"\x1b[32m{_BAR_CHAR * done}\x1b[0m"
        text += f"\x1b[37m{_BAR_CHAR * (_BAR_WIDTH - done)}\x1b[0m \x1b[1m{when}\x1b[0m{tail}"
        width = len(visible)
        if self._prev_width > width:
            text += " " * (self._prev_width - width)
        if finalize:
            text += "\n"
        self._prev_width = width
        self._write(text)

    def _count(self, current: int) -> str:
        return f"{current:>{len(str(self.target))}}/{self.target}"
