"""Data-parallel training across processes and machines, over MPI.

    import fastann.distributed as dist
    dist.init()                      # mpi4py's COMM_WORLD (or init(comm) for another communicator)
    model.fit(x, y, batch_size=64, epochs=5, distributed=True)

Run it with `mpirun -np 4 python train.py`. Every rank loads the same data and calls fit with the same arguments;
fit then broadcasts rank 0's initial weights, trains each rank on its share of every global batch of
batch_size * size() rows (the shuffled order is the same on every rank: one seed, drawn on rank 0 unless given),
averages the gradients of every step over the ranks (one MPI_Allreduce of the whole gradient buffer), and reports
the global loss and metrics of each epoch on every rank. Only rank 0 prints progress and writes ModelCheckpoint /
CSVLogger files. See docs/distributed.md.

The MPI support is an optional module (fastann._mpi) built when CMake finds MPI (Debian: libopenmpi-dev);
mpi4py (`pip install "fastann[mpi]"`) is optional too: without it, init() uses MPI_COMM_WORLD.
"""

from __future__ import annotations

import atexit
import os
import sys

import numpy as np

__all__ = ["init", "is_initialized", "rank", "size", "barrier", "broadcast_weights", "shutdown", "abort",
           "is_available"]

_DEFAULT_TIMEOUT = 300.0
_state = None  # _State once init() ran


class _State:
    def __init__(self, mpi, reducer, comm, owns_mpi):
        self.mpi = mpi
        self.reducer = reducer
        self.comm = comm
        self.owns_mpi = owns_mpi


def _module():
    try:
        from . import _mpi
    except ImportError as e:
        raise RuntimeError("fastann.distributed: this fastann was built without MPI support (no fastann._mpi): "
                           "install MPI with its headers (Debian/Ubuntu: apt-get install openmpi-bin "
                           f"libopenmpi-dev) and reinstall fastann ({e})") from None
    return _mpi


def is_available() -> bool:
    """True when this fastann was built with MPI support (fastann._mpi)."""
    try:
        _module()
    except RuntimeError:
        return False
    return True


def init(comm=None, timeout=None, overlap=False) -> None:
    """Joins the processes of `comm` (an mpi4py communicator; default mpi4py's COMM_WORLD, or MPI_COMM_WORLD when
    mpi4py is not installed) for data-parallel fit. Collective: every rank calls it. Calling it again does nothing.

    timeout: seconds any one collective (a step's gradient reduction, the start-of-fit broadcast) may take before the
    rank raises RuntimeError naming itself and the collective -- a rank that died or hangs never blocks the others
    forever (default 300, or the environment variable FASTANN_DISTRIBUTED_TIMEOUT).
    overlap: start reducing the last layer's gradients while the backward pass of the earlier layers runs (two
    collectives per step instead of one; the results are the same)."""
    global _state
    if _state is not None:
        return
    if timeout is None:
        env = os.environ.get("FASTANN_DISTRIBUTED_TIMEOUT")
        try:
            timeout = float(env) if env else _DEFAULT_TIMEOUT
        except ValueError:
            raise ValueError(f"FASTANN_DISTRIBUTED_TIMEOUT must be a number of seconds, got {env!r}") from None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"init: timeout must be a positive number of seconds, got {timeout!r}")
    mpi = _module()
    owns = False
    address = None
    if comm is None:
        try:
            from mpi4py import MPI
        except ImportError:
            MPI = None
        if MPI is not None:
            comm = MPI.COMM_WORLD
    if comm is not None:
        try:
            from mpi4py import MPI
            address = MPI._addressof(comm)
        except (ImportError, TypeError, AttributeError):
            raise TypeError(f"init: comm must be an mpi4py communicator (mpi4py.MPI.Comm), got {comm!r}") from None
    else:
        owns = mpi.init()
    reducer = mpi.MpiReducer(address, float(timeout), bool(overlap))
    _state = _State(mpi, reducer, comm, owns)
    atexit.register(_at_exit)


def is_initialized() -> bool:
    """True after init() (and before shutdown())."""
    return _state is not None


def _require(what: str) -> _State:
    if _state is None:
        raise RuntimeError(f"{what} needs fastann.distributed.init() first (on every rank, under mpirun)")
    return _state


def rank() -> int:
    """This process's rank in the communicator (0 .. size()-1)."""
    return _require("fastann.distributed.rank()").reducer.rank


def size() -> int:
    """The number of processes training together."""
    return _require("fastann.distributed.size()").reducer.size


def _is_chief() -> bool:
    """False on ranks other than 0 once init() ran: they print nothing and write no checkpoints."""
    return _state is None or _state.reducer.rank == 0


def barrier() -> None:
    """Waits until every rank has called barrier() (bounded by the timeout)."""
    _require("fastann.distributed.barrier()").reducer.barrier()


def broadcast_weights(model, root: int = 0) -> None:
    """Sets every rank's weights to those of rank `root` (fit(distributed=True) does this when it starts)."""
    st = _require("fastann.distributed.broadcast_weights()")
    weights = model.get_weights()
    if not weights:
        raise RuntimeError("broadcast_weights: the model is not built yet")
    for w in weights:
        st.reducer.broadcast(w, root)
    model.set_weights(weights)


def shutdown() -> None:
    """Releases fastann's communicator (and finalises MPI when init() initialised it). Also done at exit."""
    global _state
    st, _state = _state, None
    if st is None:
        return
    if st.reducer.failed:
        return  # the communicator is in an unknown state: leave it to the end of the job
    st.reducer = None
    if st.owns_mpi:
        st.mpi.finalize()


def abort(code: int = 1) -> None:
    """Ends every process of the job (MPI_Abort)."""
    sys.stdout.flush()
    sys.stderr.flush()
    _module().abort(int(code))


def _at_exit():
    # After a failed collective MPI_Finalize could wait forever for the lost rank: end the whole job instead (the
    # error has been printed by then).
    if _state is not None and _state.reducer.failed:
        abort(1)
    shutdown()


def _prepare_fit(model, x, y, batch_size, epochs, initial_epoch, shuffle, seed, validation_split, vx):
    """Start of fit(distributed=True), on every rank: checks that the ranks agree on the data sizes and arguments,
    agrees on the shuffling seed (rank 0's) and broadcasts rank 0's weights. Returns (reducer, seed, rank, size)."""
    st = _require("fit(distributed=True)")
    r = st.reducer
    if not model._core.built:
        model._core.build(list(x.shape[1:]))
    # Every rank draws (so every rank's NumPy generator stays in step); rank 0's value is used.
    drawn = int(np.random.randint(0, 2**63 - 1, dtype=np.int64)) if seed is None else int(seed)
    fields = [("x rows", x.shape[0]), ("x features", x.shape[1]), ("y size", y.size), ("batch_size", batch_size),
              ("epochs", epochs), ("initial_epoch", initial_epoch), ("shuffle", int(bool(shuffle))),
              ("seed given", int(seed is not None)), ("validation_split", int(round(validation_split * 1e9))),
              ("validation rows", -1 if vx is None else vx.shape[0]),
              ("optimizer iterations", model._core.iterations), ("parameters", model._core.count_params())]
    mine = np.array([v for _, v in fields] + [drawn], dtype=np.int64)
    root = mine.copy()
    r.broadcast(root, 0)
    differs = [name for (name, _), a, b in zip(fields, mine, root) if a != b]
    if seed is not None and mine[-1] != root[-1]:
        differs.append("seed")
    flags = np.zeros(r.size, dtype=np.float64)
    flags[r.rank] = 1.0 if differs else 0.0
    r.allreduce_sum(flags)
    if flags.any():
        bad = [i for i in range(r.size) if flags[i]]
        detail = (f"this rank ({r.rank}) differs from rank 0 in: " + ", ".join(
            f"{name} ({a} here, {b} on rank 0)" for (name, _), a, b in zip(fields, mine, root) if a != b)
            if differs else f"ranks {bad} differ from rank 0")
        raise ValueError("fit(distributed=True): every rank must call fit with the same data sizes and arguments "
                         f"(fit shards the data by rank itself); {detail}")
    broadcast_weights(model, 0)
    return r, int(root[-1]), r.rank, r.size
