"""What a GraphQL document may cost, checked before it costs anything.

Parsing and validating are CPU work on the event loop, proportional to the document (and,
for graphql-core's overlapping-fields rule, to the square of its repeated fields), so they
are bounded before they start, in this order:

1. **bytes** of the document (``graphql_max_document_bytes``), measured on the request as it
   arrived: a GET's raw query string, a POST's body once it is read (the body itself is
   capped app-wide, app/errors.py ``BodyLimitMiddleware``) — 413 ``query-too-large``;
2. **lexical tokens** (``graphql_max_tokens``, comments included): graphql-core's parser stops
   at the first token over the cap — 400 ``query-too-many-tokens``;
3. which operation runs: a document with several operations must name one
   (``operationName``) — 400 ``operation-name-required`` / ``unknown-operation``;
4. on the parsed document, for the operation that would run: its **depth**
   (``graphql_max_depth``; introspection fields are not counted, graphql-core's
   ``MaxIntrospectionDepthRule`` bounds them), its **root fields** (``graphql_max_root_fields``)
   and its **aliases** (``graphql_max_aliases``; a field selected again under a response key
   already used in the same selection set counts as one: each repetition is a pair the
   overlapping-fields rule compares, so ``{ me { id id id … } }`` is refused like
   ``{ a1: me … a2: me … }``) — 400 ``query-too-deep`` / ``query-too-many-root-fields`` /
   ``query-too-many-aliases``.

Fragments count where they are used (one used in two places counts twice; spread twice in one
selection set, it is merged, as execution merges it), yet each is walked once: the walk is
linear in the document whatever the fragments' shape. (Strawberry's QueryDepthLimiter and
MaxAliasesLimiter, used before, re-walk a fragment at every spread: exponential in a chain of
fragments that each spread the next twice.)
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from graphql import GraphQLError, GraphQLSyntaxError
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.language.parser import Parser
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLRequestData

from app.config import Settings, get_settings
from app.errors import AppError
from app.graphql.errors import (
    OperationNameRequired,
    QueryTooDeep,
    QueryTooLarge,
    TooManyAliases,
    TooManyRootFields,
    TooManyTokens,
    UnknownOperation,
)


@dataclass(frozen=True)
class Limits:
    document_bytes: int
    tokens: int
    depth: int
    aliases: int
    root_fields: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.graphql_max_document_bytes, settings.graphql_max_tokens, settings.graphql_max_depth,
                   settings.graphql_max_aliases, settings.graphql_max_root_fields)


# --- 1. bytes -------------------------------------------------------------------------------

def check_size(query: str, limits: Limits) -> None:
    # UTF-8 is never shorter than the code points, so only a long string needs encoding.
    if len(query) * 4 <= limits.document_bytes:
        return
    size = len(query.encode("utf-8", "surrogatepass"))
    if size > limits.document_bytes:
        raise QueryTooLarge(f"The GraphQL document is {size} bytes; the limit is {limits.document_bytes}.",
                            limit="graphql_max_document_bytes", maximum=limits.document_bytes, actual=size)


def check_raw_query_string(raw: bytes, limits: Limits) -> None:
    """A GET's ``query`` parameter, before the query string is decoded: percent-encoding at
    most triples a byte, so a raw value over three times the cap is refused unread."""
    if len(raw) <= limits.document_bytes:
        return
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        if unquote_plus(name.decode("latin-1")) != "query":
            continue
        if len(value) > 3 * limits.document_bytes:
            raise QueryTooLarge(
                f"The GraphQL document is more than {limits.document_bytes} bytes ({len(value)} bytes"
                f" percent-encoded); the limit is {limits.document_bytes}.",
                limit="graphql_max_document_bytes", maximum=limits.document_bytes, actual=len(value) // 3)


# --- 2. tokens ------------------------------------------------------------------------------

def parse(query: str, limits: Limits) -> DocumentNode | None:
    """The document, or None for a syntax error that Strawberry then reports as usual (a 200
    with ``errors``, re-parsed under the same token cap: the error is the same)."""
    parser = Parser(query, max_tokens=limits.tokens)
    nested_too_deeply = False
    try:
        return parser.parse_document()
    except GraphQLSyntaxError as error:
        if f"more than {limits.tokens} tokens" not in error.message:
            return None
    except RecursionError:
        nested_too_deeply = True  # raised below, once the recursion's frames are released
    if nested_too_deeply:
        raise QueryTooDeep("The GraphQL document is nested too deeply to be parsed.",
                           limit="graphql_max_depth", maximum=limits.depth, actual=None)
    raise TooManyTokens(f"The GraphQL document has more than {limits.tokens} lexical tokens; the limit is"
                        f" {limits.tokens}.", limit="graphql_max_tokens", maximum=limits.tokens,
                        actual=limits.tokens + 1)


# --- 3. which operation ---------------------------------------------------------------------

def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    """The operation that runs (GraphQL spec, GetOperation)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    names = [op.name.value if op.name else "(anonymous)" for op in operations]
    if operation_name is not None:
        chosen = next((op for op in operations if op.name and op.name.value == operation_name), None)
        if chosen is None:
            raise UnknownOperation(f"The document has no operation named {operation_name!r}"
                                   + (f" (it has: {', '.join(names)})." if names else "."),
                                   pointer="#/operationName")
        return chosen
    if len(operations) > 1:
        raise OperationNameRequired(
            f"The document has {len(operations)} operations ({', '.join(names)}): name the one to run"
            " in operationName.", pointer="#/operationName")
    if not operations:
        raise UnknownOperation("The document has no operation to run (only fragments).")
    return operations[0]


# --- 4. depth, root fields, aliases ---------------------------------------------------------

@dataclass
class Measure:
    depth: int = 0
    aliases: int = 0  # aliases and repeated response keys, as used, below the top level
    keys: Counter[str] = field(default_factory=Counter)  # the top level's response keys (through fragments)

    def add(self, part: Measure) -> None:
        self.depth = max(self.depth, part.depth)
        self.aliases += part.aliases
        self.keys.update(part.keys)


def _repeats(keys: Counter[str]) -> int:
    return sum(keys.values()) - len(keys)


def _spread_names(node: SelectionSetNode) -> set[str]:
    names, stack = set(), [node]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.add(selection.name.value)
            elif selection.selection_set is not None:
                stack.append(selection.selection_set)
    return names


class _Walker:
    """Measures selection sets. Fragments are measured first, each once, in dependency order
    (so no recursion follows spreads); a spread then reuses its fragment's measure."""

    def __init__(self, document: DocumentNode):
        self.done: dict[str, Measure] = {}
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        uses = {name: _spread_names(f.selection_set) & fragments.keys() for name, f in fragments.items()}
        users: dict[str, list[str]] = {name: [] for name in fragments}
        for name, used in uses.items():
            for other in used:
                users[other].append(name)
        waiting = {name: len(used) for name, used in uses.items()}
        ready = [name for name, n in waiting.items() if n == 0]
        while ready:  # fragments in a cycle are never ready: they measure as empty (validation refuses them)
            name = ready.pop()
            self.done[name] = self.selection_set(fragments[name].selection_set)
            for user in users[name]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready.append(user)

    def selection_set(self, node: SelectionSetNode) -> Measure:
        result = Measure()
        spread: set[str] = set()  # the same fragment twice in one selection set is merged, not repeated
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                result.keys[(selection.alias or selection.name).value] += 1
                if selection.alias is not None:
                    result.aliases += 1
                if selection.selection_set is not None:
                    inner = self.selection_set(selection.selection_set)
                    result.aliases += inner.aliases + _repeats(inner.keys)
                    if not selection.name.value.startswith("__"):  # introspection: MaxIntrospectionDepthRule
                        result.depth = max(result.depth, 1 + inner.depth)
            elif isinstance(selection, InlineFragmentNode):
                result.add(self.selection_set(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
                spread.add(selection.name.value)
                part = self.done.get(selection.name.value)
                if part is not None:
                    result.add(part)
        return result


def measure(document: DocumentNode, operation: OperationDefinitionNode) -> tuple[int, int, int]:
    """(depth, aliases, root fields) of ``operation``, its fragments counted where they are used."""
    top = _Walker(document).selection_set(operation.selection_set)
    return top.depth, top.aliases + _repeats(top.keys), sum(top.keys.values())


def check_operation(document: DocumentNode, operation: OperationDefinitionNode, limits: Limits) -> None:
    depth, aliases, roots = measure(document, operation)
    name = f"The operation {operation.name.value!r}" if operation.name else "The operation"
    if depth > limits.depth:
        raise QueryTooDeep(f"{name} is {depth} levels deep; the limit is {limits.depth}.",
                           limit="graphql_max_depth", maximum=limits.depth, actual=depth)
    if roots > limits.root_fields:
        raise TooManyRootFields(f"{name} selects {roots} root fields; the limit is {limits.root_fields}.",
                                limit="graphql_max_root_fields", maximum=limits.root_fields, actual=roots)
    if aliases > limits.aliases:
        raise TooManyAliases(f"{name} uses {aliases} aliases and repeated fields (a field selected again under"
                             f" the same response key counts as one); the limit is {limits.aliases}.",
                             limit="graphql_max_aliases", maximum=limits.aliases, actual=aliases)


# --- handing the document to Strawberry -----------------------------------------------------

@dataclass
class PreparedRequest:
    """What app/graphql/router.py read from the request, checked against every limit."""

    data: GraphQLRequestData
    document: DocumentNode | None  # None: a syntax error, which Strawberry reports as usual


class PreparedDocument(SchemaExtension):
    """Strawberry runs the document the router parsed and measured. Without one (the schema
    executed directly, not over HTTP) it parses under the token cap and checks the operation
    itself; a refusal is then a GraphQL error with the same ``extensions.code``."""

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        prepared = getattr(ctx.context, "prepared", None)
        if prepared is not None and prepared.document is not None and ctx.graphql_document is None:
            ctx.graphql_document = prepared.document
        else:
            ctx.parse_options["max_tokens"] = self._limits().tokens
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if getattr(ctx.context, "prepared", None) is None and ctx.graphql_document is not None:
            # The name the caller gave (ExecutionContext.operation_name falls back to the first
            # operation's, which is exactly what must not happen silently).
            provided = getattr(ctx, "_provided_operation_name", ctx.operation_name)
            try:
                limits = self._limits()
                operation = select_operation(ctx.graphql_document, provided)
                check_operation(ctx.graphql_document, operation, limits)
            except AppError as exc:
                ctx.pre_execution_errors = [GraphQLError(exc.detail, original_error=exc)]
        yield

    def _limits(self) -> Limits:
        settings = getattr(self.execution_context.context, "settings", None)
        return Limits.of(settings if isinstance(settings, Settings) else get_settings())
