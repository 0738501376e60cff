"""pyrt.linux.lsm without an LSM: this VM has neither AppArmor nor SELinux, so the write path is
tested against FAKE attr files in a temp dir (the refusal is tested for real in
tests/integration/test_lsm.py)."""
import pytest

from pyrt.linux import lsm


def test_apparmor_profile_goes_to_the_per_module_exec_file(tmp_path):
    (tmp_path / "apparmor").mkdir()
    (tmp_path / "apparmor" / "exec").write_text("")
    (tmp_path / "exec").write_text("")
    assert lsm.set_exec_label("apparmor", "docker-default", str(tmp_path)) == str(tmp_path / "apparmor" / "exec")
    assert (tmp_path / "apparmor" / "exec").read_text() == "exec docker-default"
    assert (tmp_path / "exec").read_text() == ""


def test_apparmor_falls_back_to_attr_exec_on_older_kernels(tmp_path):
    (tmp_path / "exec").write_text("")
    lsm.set_exec_label("apparmor", "p1", str(tmp_path))
    assert (tmp_path / "exec").read_text() == "exec p1"


def test_selinux_label_is_written_as_is(tmp_path):
    (tmp_path / "exec").write_text("")
    lsm.set_exec_label("selinux", "system_u:system_r:container_t:s0", str(tmp_path))
    assert (tmp_path / "exec").read_text() == "system_u:system_r:container_t:s0"


def test_a_failed_write_names_the_file(tmp_path):
    with pytest.raises(OSError) as e:
        lsm.set_exec_label("apparmor", "p1", str(tmp_path))  # no attr file at all
    assert e.value.filename == str(tmp_path / "exec")


@pytest.mark.parametrize("enabled, refused", [("Y\n", False), ("N\n", True), (None, True)])
def test_apparmor_profile_refused_unless_the_module_says_enabled(tmp_path, monkeypatch, enabled, refused):
    flag = tmp_path / "enabled"
    if enabled is not None:
        flag.write_text(enabled)
    monkeypatch.setattr(lsm, "APPARMOR_ENABLED", str(flag))
    r = lsm.refusal("docker-default", "", "")
    assert (r is not None) == refused
    if refused:
        assert r == ("process.apparmorProfile", "'docker-default': AppArmor is not enabled on this host")


def test_selinux_labels_refused_without_selinux_and_mount_labels_always(tmp_path, monkeypatch):
    monkeypatch.setattr(lsm, "SELINUX_ENFORCE", str(tmp_path / "enforce"))
    assert lsm.refusal("", "a:b:c:s0", "")[0] == "process.selinuxLabel"
    (tmp_path / "enforce").write_text("1")
    assert lsm.refusal("", "a:b:c:s0", "") is None
    assert lsm.refusal("", "", "a:b:c:s0") == ("linux.mountLabel", "'a:b:c:s0': mount labels are not supported")
