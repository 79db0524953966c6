"""The policy file of ../shared/DESIGN.md, verbatim (comments included), as
operators write it; several suites run it as is."""

EXAMPLE = """\
agent_sandbox:
  backend: jail            # jail (namespaces) | process (no namespaces: rlimits+seccomp+landlock)
  security_policy:
    mode: blacklist        # or whitelist
    restricted_modules: [os, subprocess, socket, ctypes, sys]
    allowed_modules: [math, json, re, datetime, collections]
    module_overrides: {os.path: {allowed: true, functions: [join, basename, dirname, exists]}}
    memory_limit: 256m
    cpu_limit: 1
    execution_timeout: 30
    network_access: none   # none | restricted | full
    allowed_domains: [api.openai.com, "*.example.com"]
    allowed_commands: [ls, cat, grep, python]
    max_output_size: 10m
    max_file_size: 100m
"""
