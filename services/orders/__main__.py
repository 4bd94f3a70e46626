from services.orders.main import main

main()
