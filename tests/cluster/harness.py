"""A Spark standalone cluster on 127.0.0.1 whose executors run Glue 5.1's Python, and jobs submitted the way Glue starts them.

- The cluster: one master and two workers, each its own JVM (`spark-class ...Master` / `...Worker` from the
  pip-installed Spark 3.5.6), each worker with one core, so a job gets two executors in two worker JVMs.
- The executors' (and the driver's) Python: a separate virtualenv holding exactly the modules AWS documents
  for Glue 5.1 (glue-5.1-provided.txt) plus the job's ``--additional-python-modules``, installed as Glue does at
  job start. Nothing of this repository's own environment reaches it.
- A job: its entry script from glue_jobs/, Glue's argv (``--JOB_NAME``, ``--JOB_RUN_ID``, the job's default
  arguments), paybatch only as ``paybatch.zip`` through ``--py-files`` (Glue's ``--extra-py-files``), the
  environment's config read from inside that zip.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from paybatch.local.stack import free_port
from paybatch.ops.package import build_glue_library
from paybatch.paths import PROJECT_ROOT
from paybatch.spark import REQUIRED_JARS, local_conf

HERE = Path(__file__).resolve().parent
PROVIDED = HERE / "glue-5.1-provided.txt"
CACHE = PROJECT_ROOT / ".cache" / "cluster"
UV = Path(sys.executable).with_name("uv")
SPARK_HOME = Path(__import__("pyspark").__file__).parent
WORKERS = 2


def glue_python(additional_modules: str = "") -> Path:
    """The interpreter of a Glue-5.1-like environment with these additional modules (built once per module set)."""
    key = hashlib.sha256((PROVIDED.read_text() + additional_modules).encode()).hexdigest()[:12]
    venv = CACHE / f"glue-5.1-{key}"
    python = venv / "bin" / "python"
    if (venv / ".complete").is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([str(UV), "venv", "--quiet", "--python", "python3.11", str(venv)], check=True)
    subprocess.run([str(UV), "pip", "install", "--quiet", "--python", str(python), "-r", str(PROVIDED)], check=True)
    if additional_modules:  # Glue: pip3 install of the job's --additional-python-modules over what it provides
        subprocess.run([str(UV), "pip", "install", "--quiet", "--python", str(python), *additional_modules.split(",")],
                       check=True)
    (venv / ".complete").write_text(additional_modules)
    return python


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the cluster's JVMs and Pythons see: no virtualenv, no PYTHONPATH, nothing of this process's Python."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "JAVA_HOME", "TMPDIR", "USER"}}
    keep["PATH"] = ":".join(p for p in keep.get("PATH", "/usr/bin:/bin").split(":") if ".venv" not in p)
    return {**keep, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1", **(extra or {})}


@dataclass
class Submission:
    returncode: int
    stdout: str
    stderr: str
    app_id: str | None

    def result(self) -> dict[str, object]:
        """The job's JSON result: the last stdout line that parses."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                return dict(json.loads(line))
        raise AssertionError(f"the job printed no result:\n{self.stdout[-2000:]}\n{self.stderr[-4000:]}")


@dataclass
class Cluster:
    root: Path
    master_port: int = field(default_factory=free_port)
    master_ui: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    def worker_dir(self, index: int) -> Path:
        return self.root / f"worker-{index}"

    def start(self) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        spark_class = str(SPARK_HOME / "bin" / "spark-class")
        self._spawn("master", [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(self.master_port), "--webui-port", str(self.master_ui)])
        for i in range(WORKERS):
            self.worker_dir(i).mkdir(exist_ok=True)
            self._spawn(f"worker-{i}", [spark_class, "org.apache.spark.deploy.worker.Worker", self.url, "--host", "127.0.0.1",
                                        "--cores", "1", "--memory", "1500m", "--webui-port", str(free_port()),
                                        "--work-dir", str(self.worker_dir(i))])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = self.state()
            if state and sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE") == WORKERS:
                return self
            time.sleep(0.5)
        raise AssertionError(f"the cluster did not come up: {self.state()}\n{self.logs()}")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=_clean_env(
            {"SPARK_DAEMON_MEMORY": "384m", "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=false"}),
            start_new_session=True))

    def state(self) -> dict[str, object] | None:
        """The master's own view (its web UI's JSON): workers, their cores in use, applications."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.master_ui}/json/", timeout=2) as response:
                return dict(json.loads(response.read()))
        except (OSError, ValueError):
            return None

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.root.glob("*.log")))

    def executors(self, app_id: str) -> dict[str, Path]:
        """Executor id → its folder (work dir/app/executor: stdout and stderr) in whichever worker ran it."""
        found = {}
        for i in range(WORKERS):
            for folder in sorted((self.worker_dir(i) / app_id).glob("*")):
                found[f"worker-{i}/executor-{folder.name}"] = folder
        return found

    def executor_pids(self) -> Iterator[tuple[int, str]]:
        """(pid, worker folder) of every running executor JVM (CoarseGrainedExecutorBackend)."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"CoarseGrainedExecutorBackend" in part for part in cmdline):
                cwd = os.readlink(proc / "cwd") if (proc / "cwd").exists() else ""
                yield int(proc.name), cwd

    def submit(self, script: Path, args: Mapping[str, str], *, job_env: Mapping[str, str], endpoint_url: str,
               additional_modules: str = "", timeout: float = 600, background: bool = False,
               ) -> Submission | subprocess.Popen[str]:
        """Run an entry script as Glue would start it: Glue's argv, paybatch.zip, the job's Python, s3 on the endpoint."""
        python = glue_python(additional_modules)
        library = build_glue_library(self.root / "paybatch.zip")
        run_id = f"jr_{uuid.uuid4().hex}"
        conf = {k: v for k, v in local_conf(endpoint_url).items()
                if k.startswith("spark.hadoop.") or k.startswith("spark.sql.") or k == "spark.jars"}
        conf.update({
            "spark.master": self.url, "spark.submit.deployMode": "client", "spark.driver.host": "127.0.0.1",
            "spark.executor.cores": "1", "spark.cores.max": str(WORKERS), "spark.executor.memory": "1g",
            "spark.pyspark.python": str(python), "spark.pyspark.driver.python": str(python),
            "spark.ui.enabled": "false", "spark.task.maxFailures": "4",
            "spark.executor.extraJavaOptions": "-Duser.timezone=UTC", "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        })
        for name, value in job_env.items():  # Glue jobs see the same environment on the driver and every executor
            conf[f"spark.executorEnv.{name}"] = value
        argv = [str(SPARK_HOME / "bin" / "spark-submit"), "--py-files", str(library)]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        argv.append(str(script.resolve()))
        argv += ["--JOB_NAME", script.stem, "--JOB_RUN_ID", run_id]
        for key, value in args.items():
            argv += [f"--{key}", value]
        env = _clean_env({**job_env, "PYSPARK_PYTHON": str(python)})
        if background:
            return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=self.root)
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=self.root, timeout=timeout, check=False)
        return Submission(done.returncode, done.stdout, done.stderr, self.app_of(done.stderr))

    @staticmethod
    def app_of(stderr: str) -> str | None:
        match = re.search(r"(app-\d{14}-\d{4})", stderr)
        return match.group(1) if match else None

    def stop(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for pid, cwd in list(self.executor_pids()):  # an executor the workers left behind
            if cwd.startswith(str(self.root)):
                os.kill(pid, signal.SIGKILL)


def jars_present() -> bool:
    from paybatch.paths import jars_dir

    return all((jars_dir() / name).is_file() for name in REQUIRED_JARS)
