"""Go's text/template as prometheus-adapter runs it: lexed, parsed, then executed."""

from adapter.go.template.exec import Template, TemplateError, parse

__all__ = ["Template", "TemplateError", "parse"]
