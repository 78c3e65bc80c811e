"""Offline stand-in for ansible-test's pip bootstrap script.

ansible-test downloads get-pip.py from ci-files.testing.ansible.com, which this project's
machines cannot reach. It runs the script as `python get_pip.py [pip options] pip==X ...`
inside a fresh virtualenv; this does the same with the interpreter's bundled ensurepip and
then installs the requested versions from the configured package index.
"""

import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
