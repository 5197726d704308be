from hubfw.cli.main import main

main()
