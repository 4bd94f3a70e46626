"""``python -m services.reporting`` runs the service; ``python -m services.reporting rebuild`` rebuilds its read
model."""

import sys

if sys.argv[1:2] == ["rebuild"]:
    from services.reporting.rebuild import rebuild_main

    rebuild_main(sys.argv[2:])
else:
    from services.reporting.main import main

    main()
