"""The IR: avals, Var, Literal, Eqn, IR, primitives, printer, parser, typecheck."""
from .core import IR, DTYPES, Eqn, IRError, Literal, ShapedArray, Var  # noqa: F401
from .primitives import PRIMITIVES, Primitive, ShapeError  # noqa: F401
from .printer import pp_ir  # noqa: F401
from .printer import ir_equal, pp_eqn  # noqa: F401
from .parser import IRParseError, UnknownConst, UnknownConstError, parse  # noqa: F401
from .typecheck import typecheck  # noqa: F401
