import sys

from tollgate.importer.cli import main

sys.exit(main())
