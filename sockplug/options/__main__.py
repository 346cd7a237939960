"""
C{python -m sockplug.options [README.md]}: the README's option tables, made
from the option tables (see L{sockplug.options._document}).
"""

import sys

from sockplug.options._document import main

sys.exit(main(sys.argv[1:]))
