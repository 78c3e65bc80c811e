#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: file_content
short_description: Keep a file's content, owner and mode in one round trip
version_added: 0.1.0
author: infn.cloud developers (@infn-cloud)
description:
  - Makes sure O(dest) holds exactly O(content), with the owner, group and mode asked for. The
    content is compared, and the file is written (through a temporary file in the same directory,
    optionally validated, then moved into place), and its attributes are corrected, in one module
    run on the host.
  - Meant for files the roles render with the C(ansible.builtin.template) lookup. An unchanged
    C(ansible.builtin.template) or C(ansible.builtin.copy) task costs two module runs (stat, then
    file) and three shell commands (a remote temporary directory made and removed), because the
    copy action prepares a transfer before it knows nothing needs transferring; this module costs
    one module run, on every run, so drift is still detected and repaired on each re-run.
  - The parent directory must exist, unless O(directory_mode) is set. In check mode a missing one
    only reports a change, because an earlier task that check mode did not run would have made it.
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  dest:
    description: The file to keep. Its parent directory must exist.
    type: path
    required: true
  content:
    description:
      - The whole content of the file, as text (written UTF-8 encoded).
      - Use C(no_log) on the task when it is a secret; the diff is then not shown either.
    type: str
    required: true
  validate:
    description:
      - A command run on the new content before it replaces O(dest), with C(%s) standing for the
        temporary file (like C(ansible.builtin.template)'s O(ansible.builtin.template#module:validate)).
        A non-zero exit fails the task and leaves O(dest) untouched. Run without a shell.
    type: str
  directory_mode:
    description:
      - When set, the parent directory of O(dest) is made when missing (with its missing parents, like
        C(mkdir -p), owned by the connecting user) and its mode is kept at this value on every run, as
        an C(ansible.builtin.file) task with O(ansible.builtin.file#module:state=directory) before
        this one would do, without its extra module run. Its owner is not changed.
      - Unset, a missing parent directory fails the task.
    type: raw
"""

EXAMPLES = r"""
- name: Write the pool configuration
  infn.cloud.file_content:
    dest: /etc/condor/config.d/50-infn-cloud.config
    content: "{{ lookup('ansible.builtin.template', 'infn-cloud.config.j2') }}"
    owner: root
    group: root
    mode: "0644"
    validate: env CONDOR_CONFIG=%s condor_config_val -summary
"""

RETURN = r"""
dest:
  description: The file kept.
  returned: always
  type: str
checksum:
  description: SHA-1 of the content.
  returned: always
  type: str
content_changed:
  description: Whether the content was (or in check mode would be) rewritten; attributes aside.
  returned: always
  type: bool
"""

import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            content=dict(type="str", required=True),
            validate=dict(type="str"),
            directory_mode=dict(type="raw"),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    dest = module.params["dest"]
    wanted = to_bytes(module.params["content"], errors="surrogate_or_strict")
    checksum = hashlib.sha1(wanted).hexdigest()  # noqa: S324 - a checksum, as ansible's own
    if os.path.isdir(dest):
        module.fail_json(msg="%s is a directory, not a file" % dest)
    directory = os.path.dirname(dest) or "."
    directory_mode = module.params["directory_mode"]
    if not os.path.isdir(directory):
        if module.check_mode:  # made by an earlier task (or this one) that check mode did not run
            module.exit_json(dest=dest, checksum=checksum, content_changed=True, changed=True)
        if directory_mode is None:
            module.fail_json(msg="the directory of %s does not exist: %s" % (dest, directory))
        os.makedirs(directory)
        directory_changed = True
    else:
        directory_changed = False
    if directory_mode is not None:
        directory_changed = module.set_mode_if_different(directory, directory_mode, directory_changed)

    current = _read(dest)
    content_changed = current != wanted
    result = dict(
        dest=dest,
        checksum=checksum,
        content_changed=content_changed,
        changed=content_changed or directory_changed,
    )
    if module._diff and content_changed:
        result["diff"] = dict(
            before_header=dest,
            after_header=dest,
            before="" if current is None else to_text(current, errors="surrogate_or_replace"),
            after=to_text(wanted, errors="surrogate_or_replace"),
        )

    if content_changed and not module.check_mode:
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(wanted)
            if module.params["validate"]:
                if "%s" not in module.params["validate"]:
                    module.fail_json(msg="validate must contain %%s: %s" % module.params["validate"])
                rc, out, err = module.run_command(module.params["validate"] % tmp)
                if rc != 0:
                    module.fail_json(
                        msg="failed to validate the new content of %s: %s"
                        % (dest, (to_native(err) or to_native(out)).strip()),
                        rc=rc,
                        stdout=out,
                        stderr=err,
                    )
            module.atomic_move(tmp, dest, unsafe_writes=module.params["unsafe_writes"])
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(module.params, path=dest)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
