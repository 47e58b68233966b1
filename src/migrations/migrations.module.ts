import { Module } from '@nestjs/common';
import { Cancellations } from './cancellations.js';
import { MigrationDispatcher } from './migration-dispatcher.js';
import { MigrationJournal } from './migration-journal.js';
import { MigrationQueue } from './migration-queue.js';
import { MigrationWorker } from './migration-worker.js';
import { MigrationsController } from './migrations.controller.js';
import { MigrationsRepository } from './migrations.repository.js';
import { MigrationsService } from './migrations.service.js';

@Module({
  controllers: [MigrationsController],
  providers: [Cancellations, MigrationDispatcher, MigrationJournal, MigrationQueue, MigrationWorker, MigrationsRepository, MigrationsService],
  exports: [MigrationDispatcher, MigrationsRepository, MigrationsService, MigrationQueue],
})
export class MigrationsModule {}
