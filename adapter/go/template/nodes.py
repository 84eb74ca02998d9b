"""text/template's parse tree."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class _Node:
    pos: int


@dataclass(eq=False)
class _Text(_Node):
    text: str


@dataclass(eq=False)
class _Field(_Node):
    idents: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.idents)


@dataclass(eq=False)
class _Variable(_Node):
    idents: list[str]  # idents[0] is the variable, with its `$`

    def __str__(self) -> str:
        return ".".join(self.idents)


@dataclass(eq=False)
class _Identifier(_Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(eq=False)
class _Dot(_Node):
    def __str__(self) -> str:
        return "."


@dataclass(eq=False)
class _Nil(_Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(eq=False)
class _Bool(_Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(eq=False)
class _Number(_Node):
    text: str
    value: int | float

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class _String(_Node):
    quoted: str
    value: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(eq=False)
class _Chain(_Node):
    node: _Node
    fields: list[str]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


@dataclass(eq=False)
class _Command(_Node):
    args: list[_Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


@dataclass(eq=False)
class _Pipe(_Node):
    decl: list[_Variable] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[_Command] = field(default_factory=list)

    def __str__(self) -> str:
        text = ""
        if self.decl:
            text = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return text + " | ".join(str(c) for c in self.cmds)


@dataclass(eq=False)
class _Action(_Node):
    pipe: _Pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(eq=False)
class _List(_Node):
    nodes: list[_Node] = field(default_factory=list)


@dataclass(eq=False)
class _Branch(_Node):
    kind: str  # if, with, range
    pipe: _Pipe
    body: _List
    else_body: _List | None

    def __str__(self) -> str:
        return "{{" + f"{self.kind} {self.pipe}" + "}}"


@dataclass(eq=False)
class _Break(_Node):
    pass


@dataclass(eq=False)
class _Continue(_Node):
    pass


@dataclass(eq=False)
class _End(_Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclass(eq=False)
class _Else(_Node):
    def __str__(self) -> str:
        return "{{else}}"
