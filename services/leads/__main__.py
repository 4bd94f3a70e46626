"""``python -m services.leads`` runs the service; ``python -m services.leads backfill-timeline`` replays orders'
and aftersales' topics into the customer timeline (backfill.py)."""

import sys

if sys.argv[1:2] == ["backfill-timeline"]:
    from services.leads.backfill import app

    app()
else:
    from services.leads.main import main

    main()
