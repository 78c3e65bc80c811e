import sys

from infn_cloud.cli import main

sys.exit(main())
