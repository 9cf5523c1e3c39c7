from phoenix_node.cli import main

raise SystemExit(main())
