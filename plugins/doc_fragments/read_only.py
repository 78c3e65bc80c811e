# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Attributes of the modules that only compute or read on the controller (a plan, a site
    # choice) and are members of the infn.cloud.infn action group.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Read-only; runs the same in check mode and returns the same result.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  action_group:
    description: Use C(group/infn.cloud.infn) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - infn.cloud.infn
"""
