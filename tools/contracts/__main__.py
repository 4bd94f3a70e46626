from tools.contracts.cli import main

raise SystemExit(main())
