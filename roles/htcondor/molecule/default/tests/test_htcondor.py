"""What a user and an operator of the pool check: the execute hosts' slots are visible, an
ordinary user's job runs on an execute host and returns its output, and nobody outside the
pool's trust can read from or write to it."""

import hashlib
import shlex

import pytest
import testinfra

CM, EXEC1, EXEC2 = "htcondor-cm", "htcondor-exec1", "htcondor-exec2"
EXECUTE_HOSTS = {EXEC1, EXEC2}
IAM_ISSUER = "https://iam.test.example/"
PLUGIN = "/usr/local/libexec/infn-cloud/htcondor-scitokens-group-map"


def _host(name):
    # podman exec: one process per command, far cheaper than an ansible module run on this
    # shared 2-CPU machine (the instances are podman containers named after the hosts).
    return testinfra.get_host(f"podman://{name}")


@pytest.fixture(scope="module")
def cm():
    return _host(CM)


@pytest.fixture(scope="module")
def exec1():
    return _host(EXEC1)


def as_user(node, user, command):
    """Run a shell command as an ordinary (non-root) user, in their home directory."""
    return node.run(f"runuser -l {user} -c {shlex.quote('cd ~ && ' + command)}")


def test_condor_status_lists_slots_of_both_execute_hosts(cm, wait):
    def machines():
        result = as_user(cm, "alice", "condor_status -af Machine")
        assert result.rc == 0, result.stderr
        found = set(result.stdout.split())
        return found if EXECUTE_HOSTS <= found else None

    assert wait(machines, timeout=120, interval=3, what="slots of both execute hosts") == EXECUTE_HOSTS


def test_execute_hosts_advertise_the_size_they_were_given(cm, wait):
    """exec1: htcondor_num_cpus/htcondor_memory_mb; exec2: the container limits the inventory
    gives a local node (infn_cloud_cpus_limit/infn_cloud_memory_limit_mb), not the host's."""
    expected = {EXEC1: (2, 1500), EXEC2: (1, 1024)}

    def sizes():
        result = as_user(cm, "alice", "condor_status -af Machine TotalCpus TotalMemory")
        assert result.rc == 0, result.stderr
        found = {}
        for line in result.stdout.splitlines():
            machine, cpus, memory = line.split()  # TotalCpus is a real ("2.0")
            found[machine] = (float(cpus), int(memory))
        return found if EXECUTE_HOSTS <= set(found) else None

    assert wait(sizes, timeout=120, interval=3, what="slots of both execute hosts") == expected


def test_job_of_ordinary_user_runs_on_an_execute_host(cm, wait):
    submit = "\n".join(
        [
            "executable = /bin/hostname",
            "output = hostname.out",
            "error = hostname.err",
            "log = hostname.log",
            "queue",
        ]
    )
    setup = f"rm -rf job && mkdir job && cd job && printf '%s\\n' {shlex.quote(submit)} > job.sub"
    result = as_user(cm, "alice", f"{setup} && condor_submit -terse job.sub")
    assert result.rc == 0, result.stderr
    cluster = result.stdout.split(".")[0].strip()
    assert cluster.isdigit(), result.stdout

    def finished():
        history = as_user(
            cm, "alice", f"condor_history {cluster} -limit 1 -af Owner JobStatus LastRemoteHost"
        )
        fields = history.stdout.split()
        return fields if len(fields) == 3 and fields[1] == "4" else None

    owner, _status, slot = wait(finished, timeout=180, interval=3, what=f"job {cluster} to complete")
    assert owner == "alice"
    ran_on = slot.split("@", 1)[1]
    assert ran_on in EXECUTE_HOSTS

    output = cm.file("/home/alice/job/hostname.out")
    assert output.user == "alice"
    assert output.content_string.strip() == ran_on


def test_client_without_credentials_is_refused(exec1):
    # mallory is a local user of an execute host: no token, and FS only works on the
    # daemon's own host. Even READ needs authentication in this pool.
    result = as_user(exec1, "mallory", f"condor_status -pool {CM} -any")
    assert result.rc != 0
    assert "AUTHENTICATE:1003:Failed to authenticate with any method" in result.stderr
    # The same query from the same host with the pool's daemon credentials works, so the
    # refusal is about credentials, not about the network.
    trusted = exec1.run(f"condor_status -pool {CM} -any -af Name")
    assert trusted.rc == 0, trusted.stderr
    assert f"slot1@{EXEC1}" in trusted.stdout


def test_token_signed_with_another_key_is_refused(exec1):
    forge = (
        "rm -rf forged && mkdir -m 700 forged forged/tokens"
        " && head -c 32 /dev/urandom | base64 > forged/POOL && chmod 600 forged/POOL"
        f" && _CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_FILE=$HOME/forged/POOL _CONDOR_TRUST_DOMAIN={CM}"
        f" condor_token_create -identity condor@{CM} -key POOL > forged/tokens/pool"
    )
    minted = as_user(exec1, "mallory", forge)
    assert minted.rc == 0, minted.stderr
    # Present only the forged token (a pool daemon's identity, the wrong signature).
    command = (
        "_CONDOR_SEC_TOKEN_DIRECTORY=$HOME/forged/tokens _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS=IDTOKENS"
        f" condor_status -pool {CM} -any"
    )
    result = as_user(exec1, "mallory", command)
    assert result.rc != 0
    assert "AUTHENTICATE:1004:Failed to authenticate using IDTOKENS" in result.stderr


def test_untrusted_client_cannot_advertise_a_fake_execute_slot(cm, exec1):
    ad = "\n".join(
        [
            'MyType = "Machine"',
            'Name = "slot1@intruder"',
            'Machine = "intruder"',
            "Cpus = 64",
            'State = "Unclaimed"',
        ]
    )
    advertise = f"/usr/sbin/condor_advertise -pool {CM} UPDATE_STARTD_AD fake.ad"
    command = f"printf '%s\\n' {shlex.quote(ad)} > fake.ad && {advertise}"
    result = as_user(exec1, "mallory", command)
    assert result.rc != 0
    assert "Sent 0 of 1 ad" in result.stdout + result.stderr
    names = cm.run("condor_status -any -af Name").stdout
    assert "slot1@intruder" not in names


def test_every_host_derives_the_same_pool_key():
    digests = {}
    for name in (CM, EXEC1, EXEC2):
        node = _host(name)
        key = node.file("/etc/condor/passwords.d/POOL")
        assert key.user == "root" and key.mode == 0o600
        digests[name] = hashlib.sha256(
            node.check_output("cat /etc/condor/passwords.d/POOL").encode()
        ).hexdigest()
    assert len(set(digests.values())) == 1, digests


@pytest.mark.parametrize("name", [CM, EXEC1, EXEC2])
def test_authorization_never_open_to_everyone(name):
    host = _host(name)
    assert host.run("condor_config_val -summary").rc == 0
    levels = ["READ", "WRITE", "DAEMON", "NEGOTIATOR", "ADMINISTRATOR", "CONFIG", "ADVERTISE_STARTD"]
    for level in levels:
        value = host.check_output(f"condor_config_val -expand ALLOW_{level}")
        assert value.strip(), level
        assert "*" not in value.replace("*@", ""), f"ALLOW_{level} = {value}"
    assert host.check_output("condor_config_val SEC_DEFAULT_AUTHENTICATION").upper() == "REQUIRED"
    assert host.check_output("condor_config_val SEC_READ_AUTHENTICATION").upper() == "REQUIRED"
    methods = host.check_output("condor_config_val SEC_DEFAULT_AUTHENTICATION_METHODS").upper()
    assert "ANONYMOUS" not in methods and "CLAIMTOBE" not in methods
    token = host.file("/etc/condor/tokens.d")
    assert token.mode == 0o700


@pytest.mark.parametrize("name", [CM, EXEC1, EXEC2])
def test_scitokens_mapping_accepted_by_htcondor(name):
    host = _host(name)
    mapfile = host.check_output("condor_config_val CERTMAPFILE")
    methods = host.check_output("condor_config_val SEC_DEFAULT_AUTHENTICATION_METHODS")
    plugin = host.check_output("condor_config_val SEC_SCITOKENS_PLUGIN_GROUP1_COMMAND")
    mapping = host.check_output("condor_config_val SEC_SCITOKENS_PLUGIN_GROUP1_MAPPING")
    assert "SCITOKENS" in methods
    assert plugin == f"{PLUGIN} /htcondor-users"
    assert mapping == "alice"
    lines = host.file(mapfile).content_string.splitlines()
    assert (
        r"SCITOKENS /^https:\/\/iam\.test\.example\/,0b6f7c1e\-0000\-4000\-8000\-00000000a11c$/ alice"
        in lines
    )
    assert r"SCITOKENS /^https:\/\/iam\.test\.example\/,/ PLUGIN:GROUP1" in lines


@pytest.mark.parametrize(
    ("payload", "accepted"),
    [
        ('{"wlcg.groups": ["/htcondor-users", "/other"]}', True),
        ('{"groups": ["htcondor-users"]}', True),
        ('{"wlcg.groups": ["/htcondor-users-not"]}', False),
        ('{"sub": "someone"}', False),
        ("not json", False),
    ],
)
def test_scitokens_group_plugin_accepts_only_members(exec1, payload, accepted):
    result = exec1.run(f"printf '%s' {shlex.quote(payload)} | {PLUGIN} /htcondor-users")
    assert result.rc == (0 if accepted else 1), result.stderr
