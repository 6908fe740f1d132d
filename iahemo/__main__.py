import sys

from iahemo.cli import main

sys.exit(main())
