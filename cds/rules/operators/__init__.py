"""The field-test operators of the rule language (see base.py). Importing the package
registers the built-in ones, in the order error messages and the JSON Schema list them."""

from cds.rules.operators.base import (
    JOIN,
    MISSING,
    OPERATORS,
    JoinRef,
    Operand,
    OperandKind,
    Operator,
    Ref,
    Scalar,
    Value,
    dict_or,
    operators,
    register,
    show,
    unregister,
)
from cds.rules.operators.comparisons import COMPARISONS
from cds.rules.operators.existence import EXISTS
from cds.rules.operators.membership import CONTAINS, IN

for _operator in (*COMPARISONS, IN, CONTAINS, EXISTS):
    register(_operator)

__all__ = [
    "JOIN", "MISSING", "OPERATORS", "JoinRef", "Operand", "OperandKind", "Operator", "Ref",
    "Scalar", "Value", "dict_or", "operators", "register", "show", "unregister",
]
