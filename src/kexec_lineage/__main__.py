from kexec_lineage.cli.main import main

raise SystemExit(main())
