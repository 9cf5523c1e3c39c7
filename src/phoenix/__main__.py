from phoenix.cli import main

raise SystemExit(main())
