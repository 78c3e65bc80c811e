"""A pool of one host without a cluster secret: it signs its tokens with a random key of its
own (root-only, kept across runs), and an ordinary user's job runs on it."""

import shlex

import pytest
import testinfra

SOLO = "htcondor-solo"
KEY = "/etc/condor/passwords.d/POOL"


@pytest.fixture(scope="module")
def solo():
    return testinfra.get_host(f"podman://{SOLO}")


def as_user(node, user, command):
    return node.run(f"runuser -l {user} -c {shlex.quote('cd ~ && ' + command)}")


def test_the_host_made_its_own_private_signing_key(solo):
    key = solo.file(KEY)
    assert key.is_file and key.user == "root" and key.mode == 0o600
    # 48 random bytes, base64: not the sha256 hex the role derives from a cluster secret
    assert len(key.content_string.strip()) == 64 and not all(
        c in "0123456789abcdef" for c in key.content_string.strip()
    )


def test_daemons_authenticate_with_it_and_a_job_runs(solo, wait):
    def slots():
        result = as_user(solo, "alice", "condor_status -af Machine")
        return result.stdout.split() if result.rc == 0 and SOLO in result.stdout else None

    assert SOLO in wait(slots, timeout=120, interval=3, what="the host's own slots")
    submit = "executable = /bin/hostname\\noutput = out\\nlog = log\\nqueue\\n"
    setup = f"rm -rf job && mkdir job && cd job && printf '{submit}' > job.sub"
    result = as_user(solo, "alice", f"{setup} && condor_submit -terse job.sub")
    assert result.rc == 0, result.stderr
    cluster = result.stdout.split(".")[0].strip()

    def finished():
        fields = as_user(solo, "alice", f"condor_history {cluster} -limit 1 -af JobStatus").stdout.split()
        return fields if fields == ["4"] else None

    wait(finished, timeout=180, interval=3, what=f"job {cluster} to complete")
    assert solo.file("/home/alice/job/out").content_string.strip() == SOLO
