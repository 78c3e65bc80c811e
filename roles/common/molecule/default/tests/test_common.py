"""What a user of a freshly deployed VM relies on: accounts, keys, sudo, trusted CAs, sshd."""

ALICE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIsvbqzcNWHUlUbd3Nq5OEOthZQhBmJtLBMVcm1yFwL0 alice@infn"


def test_users_have_requested_ids_and_own_groups(host):
    alice = host.user("alice")
    assert alice.exists
    assert alice.uid == 2001
    assert alice.gid == 2001
    assert alice.group == "alice"
    assert alice.shell == "/bin/bash"
    assert host.file("/home/alice").is_directory
    assert host.user("bob").exists and host.user("bob").group == "bob"
    assert host.user("carol").uid == 2003


def test_authorized_key_installed_with_safe_permissions(host):
    keys = host.file("/home/alice/.ssh/authorized_keys")
    assert keys.exists
    assert keys.user == "alice"
    assert keys.mode == 0o600
    assert ALICE_KEY in keys.content_string
    assert not host.file("/home/bob/.ssh/authorized_keys").exists


def test_sudoers_valid_and_only_for_requested_users(host):
    with host.sudo():
        assert host.run("visudo -c").rc == 0
        assert host.run("sudo -n -l -U alice").stdout.count("NOPASSWD: ALL") == 1
        bob = host.run("sudo -n -l -U bob")
    assert "NOPASSWD" not in bob.stdout
    assert not host.file("/etc/sudoers.d/infn-cloud-bob").exists


def test_alice_can_become_root_without_password(host):
    result = host.run("runuser -u alice -- sudo -n id -u")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_sshd_config_valid_and_hardened(host):
    with host.sudo():
        assert host.run("/usr/sbin/sshd -t").rc == 0
        effective = host.check_output("/usr/sbin/sshd -T")
    assert "passwordauthentication no" in effective
    assert "permitrootlogin without-password" in effective or "permitrootlogin prohibit-password" in effective
    assert "maxauthtries 4" in effective
    assert host.service("ssh").is_running


def test_extra_ca_is_trusted_and_other_cas_are_kept(host):
    bundle = host.file("/etc/ssl/certs/ca-certificates.crt").content_string
    installed = host.run("ls /usr/local/share/ca-certificates/").stdout.split()
    ours = [name for name in installed if name.startswith("infn-cloud-ca-")]
    assert len(ours) == 1
    pem = host.file(f"/usr/local/share/ca-certificates/{ours[0]}").content_string.strip()
    assert pem in bundle
    # CAs the role did not install (here the image's local CA bundle) are left alone.
    assert "infn-cloud-host-bundle.crt" in installed


def test_timezone_and_ntp(host):
    assert host.file("/etc/localtime").linked_to.endswith("Europe/Rome")
    conf = host.file("/etc/systemd/timesyncd.conf.d/50-infn-cloud.conf")
    assert "NTP=ntp1.example.org ntp2.example.org" in conf.content_string
    assert host.service("systemd-timesyncd").is_enabled


def test_hostname_is_the_requested_one(host):
    # molecule names the container (and so its hostname) after the inventory host; converge asks
    # for vm-<that name>, so this passes only if the role changed the hostname.
    container = host.backend.get_hostname()
    assert not container.startswith("vm-")
    expected = f"vm-{container}"
    assert host.check_output("hostname") == expected
    assert host.file("/etc/hostname").content_string.strip() == expected
