"""Go's text/template as prometheus-adapter runs it: lexed, parsed, then executed."""

from adapter.go.template.exec import Template, parse
from adapter.go.template.parser import TemplateError

__all__ = ["Template", "TemplateError", "parse"]
