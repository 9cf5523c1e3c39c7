import sys

from phoenix.client.cli import main

sys.exit(main())
