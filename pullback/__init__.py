"""pullback: a tracing compiler for numerical Python."""
from . import ir  # noqa: F401
from .api import make_ir  # noqa: F401
from .jit import jit, jit_stats  # noqa: F401
from .vmap import vmap  # noqa: F401
from .control_flow import cond, fori_loop, scan, while_loop  # noqa: F401
from .tracer.trace import ConcretizationError  # noqa: F401
from .ad import (  # noqa: F401
    check_grads, custom_jvp, custom_vjp, grad, hessian, jacfwd, jacrev, jvp,
    stop_gradient, value_and_grad, vjp,
)

__version__ = "0.1.0"
