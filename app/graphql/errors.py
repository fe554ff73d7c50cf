"""One schema extension renders AppError as ``extensions.code`` (same code as REST);
anything else is masked so internals never leak."""
from __future__ import annotations

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from app.errors import AppError


def _unexpected(error: GraphQLError) -> bool:
    return error.original_error is not None and not isinstance(error.original_error, AppError)


class AppErrorExtension(MaskErrors):
    def __init__(self):
        super().__init__(should_mask_error=_unexpected, error_message="Internal server error")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            original = error.original_error
            if isinstance(original, AppError):
                error.extensions = {**(error.extensions or {}), "code": original.code, "status": original.status,
                                    **({"pointer": original.pointer} if original.pointer else {})}
            elif original is None and error.message == "Internal server error":
                error.extensions = {**(error.extensions or {}), "code": "internal-error", "status": 500}
        return processed
