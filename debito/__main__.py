from debito.cli import main

main()
