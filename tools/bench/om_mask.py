#!/usr/bin/env python3
"""Arm 3 of `cargo bench -p om-secrets --bench corpus`: OpenMetadata 2.0.7's own
masking of a connection config, timed in-process.

Reads the corpus on stdin (JSON: {"iterations": N, "configs": [{"id", "model",
"config"}, ...]}), where `model` is the manifest's model
(`metadata.generated.schema....Module.Class`, `...Class[authType=JWT]`, or
`a.A | b.B` for a union of models of one package: the first that validates is
used). For each config it times, with time.perf_counter_ns,

    Model.model_validate(config).model_dump_json(context={"mask_secrets": True})

once cold (the generated models defer building their pydantic schema to the
first use, as OpenMetadata ships them) and then N times warm. Prints one JSON
object on stdout: {"python", "pydantic", "results": [{"id", "ok", "first_ns",
"ns": [...]} | {"id", "ok": false, "error"}]}. Process start-up and imports
are not timed.

Only the generated pydantic models are imported: `metadata/__init__.py`
(which pulls the profiler, SQLAlchemy and the rest of the ingestion
framework) is bypassed by registering the `metadata` package by path, so the
wheel is installed without its dependencies (tools/bench/requirements.txt).
"""

import importlib
import importlib.util
import json
import logging
import os
import platform
import sys
import time
import types


def bare_metadata_package():
    spec = importlib.util.find_spec("metadata")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("openmetadata-ingestion is not installed in this interpreter")
    pkg = types.ModuleType("metadata")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["metadata"] = pkg
    # Every validation runs OpenMetadata's entity-name transform, which
    # imports two classes from outside the generated models (the profiler,
    # needing SQLAlchemy, and the entity-link grammar, needing antlr4) only to
    # know which models to transform. Stand-ins with those names: connection
    # models are none of them, so the transform does what it does in a full
    # install (nothing), instead of failing an import on every call.
    # OM_BENCH_PY_STUBS=0 leaves them out, to see what that failing import
    # costs (its warning is silenced, not the import).
    if os.environ.get("OM_BENCH_PY_STUBS", "1") == "0":
        log = logging.getLogger("metadata")
        log.addHandler(logging.NullHandler())
        log.propagate = False
        return
    for module, cls in (
        ("metadata.profiler.api.models", "ProfilerResponse"),
        ("metadata.utils.entity_link", "CustomColumnName"),
    ):
        stub = types.ModuleType(module)
        setattr(stub, cls, type(cls, (), {}))
        sys.modules[module] = stub


def resolve(model):
    """The model classes a manifest `model` string names."""
    model = model.split("[", 1)[0].strip()
    parts = [p.strip() for p in model.split("|")]
    first_module, _ = parts[0].rsplit(".", 1)
    base = first_module.rsplit(".", 1)[0]
    classes = []
    for i, p in enumerate(parts):
        module, cls = p.rsplit(".", 1)
        if i > 0 and not module.startswith("metadata."):
            module = f"{base}.{module}"
        classes.append(getattr(importlib.import_module(module), cls))
    return classes


def main():
    bare_metadata_package()
    import pydantic

    corpus = json.load(sys.stdin)
    n = int(corpus.get("iterations", 10))
    ctx = {"mask_secrets": True}
    clock = time.perf_counter_ns
    results = []
    for item in corpus["configs"]:
        cid, config = item["id"], item["config"]
        try:
            classes = resolve(item["model"])
        except Exception as e:  # noqa: BLE001
            results.append({"id": cid, "ok": False, "error": f"import: {type(e).__name__}: {e}"})
            continue
        chosen, first, errors = None, None, []
        for cls in classes:
            t0 = clock()
            try:
                cls.model_validate(config).model_dump_json(context=ctx)
            except Exception as e:  # noqa: BLE001
                errors.append(f"{cls.__name__}: {type(e).__name__}: {str(e).splitlines()[0]}")
                continue
            first = clock() - t0
            chosen = cls
            break
        if chosen is None:
            results.append({"id": cid, "ok": False, "error": "; ".join(errors)})
            continue
        samples = []
        for _ in range(n):
            t0 = clock()
            chosen.model_validate(config).model_dump_json(context=ctx)
            samples.append(clock() - t0)
        results.append({"id": cid, "ok": True, "model": chosen.__name__, "first_ns": first, "ns": samples})
    json.dump(
        {
            "python": platform.python_version(),
            "pydantic": pydantic.VERSION,
            "defer_build": os.environ.get("OM_PYDANTIC_DEFER_BUILD", "true"),
            "stubs": os.environ.get("OM_BENCH_PY_STUBS", "1") != "0",
            "results": results,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
