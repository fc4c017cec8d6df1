import sys

from mirl.cli.main import main

sys.exit(main())
