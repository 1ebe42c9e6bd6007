"""The wire contracts of Debito: what crosses RabbitMQ and the API between processes.

One module per service: the marshmallow schemas of its RPCs' arguments and answers, the values
its fields take (statuses, frequencies, reason codes), the request bodies the gateway forwards
and documents. The gateway and the services import this package; it imports no service (only
`common` and libraries), so the gateway's image is built without the services' code.
"""
