from services.aftersales.main import main

main()
