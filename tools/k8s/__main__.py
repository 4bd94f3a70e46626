from tools.k8s.check import main

raise SystemExit(main())
