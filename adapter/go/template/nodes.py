"""text/template's parse tree."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class Node:
    pos: int


@dataclass(eq=False)
class Text(Node):
    text: str


@dataclass(eq=False)
class Field(Node):
    idents: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.idents)


@dataclass(eq=False)
class Variable(Node):
    idents: list[str]  # idents[0] is the variable, with its `$`

    def __str__(self) -> str:
        return ".".join(self.idents)


@dataclass(eq=False)
class Identifier(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(eq=False)
class Dot(Node):
    def __str__(self) -> str:
        return "."


@dataclass(eq=False)
class Nil(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(eq=False)
class Bool(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(eq=False)
class Number(Node):
    text: str
    value: int | float

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class String(Node):
    quoted: str
    value: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(eq=False)
class Chain(Node):
    node: Node
    fields: list[str]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, Pipe) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


@dataclass(eq=False)
class Command(Node):
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, Pipe) else str(a) for a in self.args)


@dataclass(eq=False)
class Pipe(Node):
    decl: list[Variable] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[Command] = field(default_factory=list)

    def __str__(self) -> str:
        text = ""
        if self.decl:
            text = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return text + " | ".join(str(c) for c in self.cmds)


@dataclass(eq=False)
class Action(Node):
    pipe: Pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(eq=False)
class List(Node):
    nodes: list[Node] = field(default_factory=list)


@dataclass(eq=False)
class Branch(Node):
    kind: str  # if, with, range
    pipe: Pipe
    body: List
    else_body: List | None

    def __str__(self) -> str:
        return "{{" + f"{self.kind} {self.pipe}" + "}}"


@dataclass(eq=False)
class Break(Node):
    pass


@dataclass(eq=False)
class Continue(Node):
    pass


@dataclass(eq=False)
class End(Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclass(eq=False)
class Else(Node):
    def __str__(self) -> str:
        return "{{else}}"
