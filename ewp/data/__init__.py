"""Data in: reading exports (``io``), checking them against the contract
(``validation``), adapters for other forces' exports, and the synthetic force.

Imports only the core."""
