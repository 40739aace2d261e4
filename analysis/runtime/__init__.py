"""How the pipeline runs: each rule's log and error handling (runlog, console), atomic writes, checksums, the run guard,
the jobs' environment, lazy imports, the code inputs of each rule and the cluster resources.
"""

__all__ = ["atomic", "checksums", "code_inputs", "console", "jobenv", "lazy_imports", "resources", "run_guard", "runlog"]
